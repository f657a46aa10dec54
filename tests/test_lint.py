"""The code passes the project's linter (ruff, configured in pyproject.toml)."""
import subprocess
import sys

import pytest
from conftest import ROOT


def test_ruff_finds_nothing():
    pytest.importorskip("ruff", reason="ruff comes with the dev extra (pip install -e '.[all]')")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "mlipcheck", "suites", "tests", "scripts"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
