# Two commands do all set-up on a fresh machine: `make test` and `make reproduce`.
# Each creates .venv when it is missing (torch pinned to 2.13.0 by constraints.txt) and
# installs the package with its dev and experiments extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RESULTS ?= results

.PHONY: test lint reproduce docs bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .

reproduce: $(STAMP)
	$(PY) -m superaccel.cli reproduce all --out $(RESULTS)

# docs/theory.md (figures 1, 2, 7; a few minutes) and docs/benchmarks.md (from the
# committed benchmarks/results/*.json, seconds)
docs: $(STAMP)
	$(PY) docs/build_theory.py
	$(PY) benchmarks/make_docs.py

# The full benchmark suite (under an hour on 2 cores) and the docs generated from its JSON.
bench: $(STAMP)
	$(PY) benchmarks/step_time.py
	$(PY) benchmarks/time_to_target.py
	$(PY) benchmarks/make_docs.py

# A few minutes; prints the tables instead of rewriting docs/benchmarks.md. CI does not run it.
bench-quick: $(STAMP)
	$(PY) benchmarks/step_time.py --quick
	$(PY) benchmarks/time_to_target.py --quick
	$(PY) benchmarks/make_docs.py --quick

clean:
	rm -rf $(VENV) $(RESULTS) .pytest_cache build *.egg-info
