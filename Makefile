# Set-up is automatic: every target creates .venv and installs the package when needed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= results

.PHONY: demo test bench clean clean-results

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,reference,data]'
	touch $(STAMP)

## Quick versions of the key figures into results/ (CPU, a few minutes), then results/report.md and .html.
demo: $(STAMP)
	$(VENV)/bin/isac-jax reproduce a-fig11 --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce a-ml-vs-crb --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce a-fig10 --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce b-overhead --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce b-fig6 --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax reproduce b-table3 --preset quick --out $(OUT)
	$(VENV)/bin/isac-jax report $(OUT)

## The whole test suite (float64, tiny sizes) on two worker processes, the long tests handed out first.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist load

## Benchmarks: print side-by-side ratios (not part of the tests).
bench: $(STAMP)
	$(PY) benchmarks/bench_ota.py
	$(PY) benchmarks/bench_design.py
	$(PY) benchmarks/bench_echo.py
	$(PY) benchmarks/bench_estimators.py
	$(PY) benchmarks/bench_dvqvae.py
	$(PY) benchmarks/bench_feel.py

## Remove the virtual environment and the test cache; results/ (every result and resume checkpoint) is kept.
clean:
	rm -rf $(VENV) .pytest_cache

## Remove the results directory $(OUT) (results, figures, reports, resume checkpoints), saying what goes.
clean-results:
	@if [ -e "$(OUT)" ]; then echo "removing $(OUT)/ ($$(du -sh "$(OUT)" | cut -f1)):"; ls -1 "$(OUT)" | sed 's/^/  /'; rm -rf "$(OUT)"; else echo "nothing to remove: $(OUT)/ does not exist"; fi
