# One command runner for people and CI: `.ci/run` calls `make test`.
.PHONY: setup demo test lint format bench bench-full screenshots lock

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

# The whole campaign through the flows and as plain Python (bench/campaign.py) at BENCH_UNITS
# units: every stage, flows / plain, peak RSS, an idle collect round, and the store work per
# incoming message at BENCH_QUERIES units; then an idle round at BENCH_IDLE units (bench/idle.py:
# plain, CLI, a warm flow and `nianbao serve`).
BENCH_UNITS ?= 100
BENCH_QUERIES ?= 100,1000
BENCH_IDLE ?= 1000

bench: setup
	.venv/bin/python bench/read_validate.py
	.venv/bin/python bench/consolidate.py
	.venv/bin/python bench/hostile.py
	.venv/bin/python bench/store.py
	.venv/bin/python bench/template.py
	.venv/bin/python bench/documents.py
	.venv/bin/python bench/campaign.py --units $(BENCH_UNITS) --idle --queries $(BENCH_QUERIES)
	.venv/bin/python bench/idle.py --units $(BENCH_IDLE)

# Province scale: 1,000 against 5,000 units (time per unit, peak RSS), the idle round at 5,000,
# and the peak RSS of consolidate and of collect on stores built directly (bench/consolidate_memory.py).
bench-full: setup
	.venv/bin/python bench/campaign.py --compare 1000,5000 --idle --queries $(BENCH_QUERIES)
	.venv/bin/python bench/idle.py --units 5000
	.venv/bin/python bench/consolidate_memory.py --units 1000,5000
	.venv/bin/python bench/consolidate_memory.py --units 1000,5000 --stage collect --late 100

screenshots: setup
	@scripts/setup.sh --screenshots
	.venv/bin/python scripts/screenshots.py --out docs/screenshots

# Re-resolve the newest versions pyproject.toml allows into constraints.txt; run `make test` after.
lock:
	@scripts/lock.sh
