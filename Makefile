.PHONY: run test lint format benchmarks faults
run:        ## set up and run the app on the embedded default, with a demo
	scripts/run.sh
test:       ## set up and run the whole test suite
	scripts/test.sh
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
faults:     ## fault, hostile-input and fuzz tests (FULL=1: long variants)
	scripts/faults.sh
