"""Pytest plugin loaded with ``-p tests.data_dir``, before Django reads its settings.

Each test run gets its own data directory, so tests never touch ./var and a generated secret
key never leaks between runs.
"""

from __future__ import annotations

import os
import tempfile

os.environ["BANKMALL_DATA_DIR"] = tempfile.mkdtemp(prefix="bankmall-test-")
