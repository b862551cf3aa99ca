# expodiff: the two commands of the README.
#   make demo   set up .venv on a fresh machine, then run the main job on a bundled input
#   make test   set up .venv when needed, then run the whole test suite
#   make test-fast  the same without the tests marked slow: the quick check while editing
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.expodiff-installed
# A real photograph made 100x too dark with calibrated sensor noise (scripts/make_demo.py).
DEMO_SAMPLE := examples/canon_d30_x100_iso6400.dng
EXPODIFF_DATA ?= $(abspath ../shared/data)
# Large convolutions on CPU spend half their time in glibc page faults without these.
export GLIBC_TUNABLES := glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736
export EXPODIFF_DATA

.PHONY: setup demo test test-fast lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned to the CPU wheel, so no dependency can pull a CUDA build.
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	$(VENV)/bin/expodiff enhance $(DEMO_SAMPLE) -o out/demo.png --overwrite
	@echo "make demo: the enhanced image is out/demo.png (input $(DEMO_SAMPLE), 100x too dark;" \
		"reference examples/canon_d30_reference.png)"

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) out .pytest_cache
