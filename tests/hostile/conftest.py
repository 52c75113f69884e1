"""The hostile corpus uses the flow tests' helpers (tests/flowkit.py) and the session's mail
servers and Prefect harness (tests/conftest.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
