# Set-up is automatic: every target creates .venv and installs the package when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= results

.PHONY: demo test test-slow test-all bench docs pages clean clean-results

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,reference,data,docs]'
	touch $(STAMP)

## Quick versions of the key figures into results/ (CPU; `isac-jax list` shows each one's expected time), then results/report.md and .html.
demo: $(STAMP)
	$(VENV)/bin/isac-jax reproduce a-fig11 --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce a-ml-vs-crb --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce a-fig10 --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce b-overhead --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce b-fig6 --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce b-table3 --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax report $(OUT)

## The test suite (float64, tiny sizes) on two worker processes, the long tests handed out first, then
## the ten slowest tests. The end-to-end tests marked `slow` are the second pass: `make test-slow`.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist load -m "not slow" --durations=10

## The second pass: the end-to-end tests marked `slow` (whole learning/estimation pipelines, every study).
test-slow: $(STAMP)
	$(PY) -m pytest -n 2 --dist load -m slow --durations=10

## Both passes.
test-all: test test-slow

## Benchmarks: print side-by-side ratios and write each one's JSON record to docs/data/benchmarks/ (not part of the tests).
BENCH_JSON ?= docs/data/benchmarks
bench: $(STAMP)
	mkdir -p $(BENCH_JSON)
	$(PY) benchmarks/bench_ota.py --json $(BENCH_JSON)/bench_ota.json
	$(PY) benchmarks/bench_design.py --json $(BENCH_JSON)/bench_design.json
	$(PY) benchmarks/bench_echo.py --json $(BENCH_JSON)/bench_echo.json
	$(PY) benchmarks/bench_estimators.py --json $(BENCH_JSON)/bench_estimators.json
	$(PY) benchmarks/bench_dvqvae.py --json $(BENCH_JSON)/bench_dvqvae.json
	$(PY) benchmarks/bench_feel.py --json $(BENCH_JSON)/bench_feel.json

## The documentation site, strict build (a broken link or reference fails), into site/.
docs: $(STAMP)
	$(PY) -m mkdocs build --strict --site-dir site

## Regenerate the reproduction, benchmark and study pages from docs/data/ (RESULTS=dir imports a results dir first).
pages: $(STAMP)
	$(PY) -m isac_jax.docs_pages $(if $(RESULTS),--import-results $(RESULTS))

## Remove the virtual environment and the test cache; results/ (every result and resume checkpoint) is kept.
clean:
	rm -rf $(VENV) .pytest_cache site

## Remove the results directory $(OUT) (results, figures, reports, resume checkpoints), saying what goes.
clean-results:
	@if [ -e "$(OUT)" ]; then echo "removing $(OUT)/ ($$(du -sh "$(OUT)" | cut -f1)):"; ls -1 "$(OUT)" | sed 's/^/  /'; rm -rf "$(OUT)"; else echo "nothing to remove: $(OUT)/ does not exist"; fi
