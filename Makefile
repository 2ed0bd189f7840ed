# Two commands do all set-up on a fresh machine: `make test` and `make reproduce`.
# Each creates .venv when it is missing (torch pinned to 2.13.0 by constraints.txt) and
# installs the library with its dev extras and, beside it, the paper's lab (lab/).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RESULTS ?= results

.PHONY: test lint reproduce docs bench bench-auto-sigma bench-nanogpt bench-quick clean

$(STAMP): pyproject.toml lab/pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]" -e ./lab
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
	$(PY) -m superaccel_lab.benchmarks.make_docs

# The full benchmark suite (about an hour on 2 cores) and docs/benchmarks.md generated from its JSON.
bench: $(STAMP)
	$(PY) -m superaccel_lab.benchmarks.step_time
	$(PY) -m superaccel_lab.benchmarks.jax_step_time
	$(PY) -m superaccel_lab.benchmarks.time_to_target
	$(PY) -m superaccel_lab.benchmarks.make_docs

# The sigma="auto" ablation (about 6 minutes on 2 cores) on the learning rates `make bench` chose,
# the measurements behind its design note (about 4 minutes), and docs/auto_sigma.md.
bench-auto-sigma: $(STAMP)
	$(PY) -m superaccel_lab.benchmarks.auto_sigma
	$(PY) -m superaccel_lab.benchmarks.auto_sigma_diagnostics
	$(PY) -m superaccel_lab.benchmarks.make_docs

# nanoGPT's CPU recipe with the optimizers swapped in (about half an hour on 2 cores), then the docs.
bench-nanogpt: $(STAMP)
	$(PY) -m superaccel_lab.benchmarks.nanogpt_recipe
	$(PY) -m superaccel_lab.benchmarks.make_docs

# A few minutes; prints the tables instead of rewriting docs/benchmarks.md. CI does not run it.
bench-quick: $(STAMP)
	$(PY) -m superaccel_lab.benchmarks.step_time --quick
	$(PY) -m superaccel_lab.benchmarks.jax_step_time --quick
	$(PY) -m superaccel_lab.benchmarks.time_to_target --quick
	$(PY) -m superaccel_lab.benchmarks.auto_sigma --quick
	$(PY) -m superaccel_lab.benchmarks.make_docs --quick

clean:
	rm -rf $(VENV) $(RESULTS) .pytest_cache build *.egg-info
