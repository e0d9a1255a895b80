# Two commands on a fresh machine (Python 3.11 + pip):  make demo   |   make test
# Both create .venv when missing and install the project into it first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.clippan-installed
# Real sample data: CLIPPAN_DATA if set, else ../shared/data when it exists (tests that need it skip with a hint otherwise).
CLIPPAN_DATA ?= $(if $(wildcard ../shared/data/README.md),$(abspath ../shared/data),)
export CLIPPAN_DATA
# Never let Hugging Face / open_clip retry the network for a minute on an offline machine.
export HF_HUB_OFFLINE ?= 1
export MPLBACKEND ?= Agg
PYTEST_ARGS ?=

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m clippan_kit demo --out outputs/demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf outputs .pytest_cache
