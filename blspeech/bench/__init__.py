"""Benchmarks: the bL claim (fewer FLOPs, faster) measured against the baselines in one run.

``python -m blspeech.bench`` measures, in this order: the machine's float32 matmul and
convolution FLOP/s (again after the model timing); each baseline with its bL variants, timed
interleaved (parameters, FLOPs per second of audio, inference throughput, training step time);
every model's peak memory in fresh processes; operator-category profiles of the small presets;
the data path (synthesis, features, loader, decoding); the main job's trained bL models and
baselines computing their own dev and test sets' log-probabilities. It writes ``results.md``,
``results.json`` and ``flops_vs_wer.png``.
"""

from blspeech.bench.run import BenchPlan, run_benchmark, write_outputs

__all__ = ["BenchPlan", "run_benchmark", "write_outputs"]
