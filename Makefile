# The two commands: `make run` and `make test` (see README.md).
# The scripts start under the system python3 (3.11), make .venv and continue inside it.
PYTHON ?= python3
ARGS ?=

.PHONY: run test chaos bench prod-check clean

run:
	$(PYTHON) -m deploy.local.run

test:
	$(PYTHON) -m deploy.local.test $(ARGS)

chaos:
	$(PYTHON) -m deploy.local.test --chaos $(ARGS)

bench:
	$(PYTHON) -m deploy.local.bootstrap
	.venv/bin/python -m bench $(ARGS)

# The production shape (docs/scaling.md) on this machine, under faults; see docs/operations.md.
prod-check:
	$(PYTHON) -m deploy.local.bootstrap
	.venv/bin/python -m deploy.local.prod_check $(ARGS)

clean:
	rm -rf .data
