# One command runner for people and CI: `.ci/run` calls `make test`.
.PHONY: setup demo test lint format bench screenshots lock

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/nianbao demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup
	.venv/bin/python bench/read_validate.py
	.venv/bin/python bench/consolidate.py
	.venv/bin/python bench/hostile.py
	.venv/bin/python bench/store.py
	.venv/bin/python bench/template.py

screenshots: setup
	@scripts/setup.sh --screenshots
	.venv/bin/python scripts/screenshots.py --out docs/screenshots

# Re-resolve the newest versions pyproject.toml allows into constraints.txt; run `make test` after.
lock:
	@scripts/lock.sh
