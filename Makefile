# Two commands do everything on a fresh Debian machine (as root): `make demo` and `make test`.
PY := .venv/bin/python
RECIPE ?= recipes/swbd_mini.yaml

.PHONY: setup demo test bench
setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m blspeech.train $(RECIPE)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) -m blspeech.bench
