# Two commands do all set-up on a fresh machine: `make test` and `make reproduce`.
# Each creates .venv when it is missing (torch pinned to 2.13.0 by constraints.txt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RESULTS ?= results

.PHONY: test reproduce bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

reproduce: $(STAMP)
	$(PY) -m superaccel.cli reproduce all --out $(RESULTS)

bench: $(STAMP)
	$(PY) benchmarks/step_time.py

clean:
	rm -rf $(VENV) $(RESULTS) .pytest_cache build *.egg-info
