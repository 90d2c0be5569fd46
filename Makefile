# Two commands do everything on a fresh Debian machine (as root): `make demo` and `make test`.
PY := .venv/bin/python
RECIPE ?= recipes/swbd_mini.yaml

.PHONY: setup demo demo-hybrid test bench
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m blspeech.train $(RECIPE)

# The hybrid (DNN-HMM) twin of the demo on the same corpus, then both WER tables side by side.
demo-hybrid: demo
	$(PY) -m blspeech.train recipes/swbd_mini_hybrid.yaml
	$(PY) -m blspeech.results exp/swbd_mini exp/swbd_mini_hybrid

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m blspeech.bench
