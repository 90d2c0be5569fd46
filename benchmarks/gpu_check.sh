#!/usr/bin/env bash
# The GPU checks, on a machine where PyTorch sees a CUDA device: the tests of the CUDA paths and
# of the pieces they use, then the benchmark's model timings on the GPU (the data path is CPU
# work that needs the TTS engines, so it is left out). The benchmark runs even if a test fails.
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR [BENCH_ARGS...]]
#        e.g. ... OUT --compile --compile-mode reduce-overhead --amp: CUDA graphs, bf16 training steps
#        (default OUT_DIR benchmarks/cuda; PYTHON picks the interpreter, default python3)
set -uo pipefail
out=${1:-benchmarks/cuda}
shift || true
python=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # subprocesses of the tests import blspeech uninstalled
"$python" -c 'import torch; assert torch.cuda.is_available(), "PyTorch sees no CUDA device"; print("torch", torch.__version__, "on", torch.cuda.get_device_name(0))' || exit 1
"$python" -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_models.py tests/test_blmodule.py \
    tests/test_inference_ready.py tests/test_training_loop.py tests/test_checkpoint.py tests/test_flops.py
tests=$?
"$python" -m blspeech.bench --device cuda --no-data-path --out "$out" --note "GPU check: bash benchmarks/gpu_check.sh" "$@"
bench=$?
echo "tests exit status $tests, benchmark exit status $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
