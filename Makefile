# The two commands of the README: `make demo` and `make test`. Each sets up everything first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
FASHION := /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?= -m "not slow"

.PHONY: setup data demo test test-all bench bench-gpu lint clean studies-doc

setup: $(STAMP) data

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	@touch $(STAMP)

# Fashion-MNIST from Debian (never downloaded at run time); $HOMEOBRIDGE_DATA may point elsewhere.
data:
	@if [ -n "$$HOMEOBRIDGE_DATA" ] && ls "$$HOMEOBRIDGE_DATA"/*t10k-images* >/dev/null 2>&1; then \
		echo "Fashion-MNIST: $$HOMEOBRIDGE_DATA"; \
	elif ls $(FASHION)/t10k-images* >/dev/null 2>&1; then \
		echo "Fashion-MNIST: $(FASHION)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's dataset-fashion-mnist ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	else \
		echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' or set HOMEOBRIDGE_DATA to a folder with its IDX files; tests that need it will be skipped."; \
	fi

demo: setup
	$(VENV)/bin/homeobridge demo

test: setup
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: setup
	$(PY) -m pytest -m ""

# every benchmark's ratio beside its target (PASS/MISS); writes docs/performance.md
bench: setup
	cd bench && ../$(PY) all.py -o ../docs/performance.md

# the GPU rows alone (bench_gpu: needs CUDA), on a GPU machine; writes docs/performance-gpu.md
bench-gpu: setup
	cd bench && ../$(PY) all.py --only bench_gpu -o ../docs/performance-gpu.md

# docs/studies.md, its JSON snapshot docs/studies.json, its plots and the README's findings,
# generated from the full-budget study results in ./results
studies-doc: setup
	$(VENV)/bin/homeobridge study table --budget full --plots docs/studies -o docs/studies.md --summary README.md

lint: setup
	$(VENV)/bin/ruff check bridge models sims tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
