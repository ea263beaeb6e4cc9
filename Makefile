# The README's two commands: `make serve` and `make test`.
.PHONY: install serve test lint

install:
	bash launch/install.sh

serve: install
	.venv/bin/python -m server $(ARGS)

test: install
	.venv/bin/python -m pytest $(ARGS)

lint: install
	.venv/bin/ruff check server distill tests client_examples launch
	.venv/bin/mypy
