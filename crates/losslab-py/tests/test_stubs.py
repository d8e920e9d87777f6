"""The committed type stubs (.pyi) are those the catalog gives (scripts/py/stubs.py)."""

import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "scripts", "py", "stubs.py")


def test_stubs_are_up_to_date():
    r = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
