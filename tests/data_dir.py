"""Pytest plugin loaded with ``-p tests.data_dir``, before Django reads its settings.

Each test run gets its own data directory, so tests never touch ./var and a generated secret
key never leaks between runs.
"""

from __future__ import annotations

import os
import tempfile

os.environ["BANKMALL_DATA_DIR"] = tempfile.mkdtemp(prefix="bankmall-test-")

# The suite sends many requests from one address; the rate-limit tests set their own budgets.
os.environ.setdefault("API_RATE_ANONYMOUS", "100000/m")
os.environ.setdefault("API_RATE_AUTHENTICATED", "100000/m")
