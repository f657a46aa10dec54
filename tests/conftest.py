"""Shared helpers of mlipcheck's own tests."""
from pathlib import Path

import pytest

from mlipcheck.adapters import load_model, parse_model_specs
from mlipcheck.profiles import load_profile

HERE = Path(__file__).parent
ROOT = HERE.parent
BROKEN = HERE / "broken_models.py"
TINY_MACE = ROOT / "fixtures" / "tiny_models" / "cu_tiny_mace.model"
TINY_NEQUIP = ROOT / "fixtures" / "tiny_models" / "cu_tiny_nequip.nequip.zip"

pytest_plugins = ["pytester"]


def load_broken(name, **options):
    """A Model around one factory of tests/broken_models.py (for scripts; tests use `broken`)."""
    extra = "".join(f",{k}={v}" for k, v in options.items())
    return load_model(parse_model_specs([f"{BROKEN}:{name}{extra}"])[0])


@pytest.fixture(scope="session")
def broken():
    """broken(name, **options): a Model around one factory of tests/broken_models.py, e.g.
    broken("correct") (EMT) or broken("rotation_broken")."""
    return load_broken


@pytest.fixture(scope="session")
def quick():
    return load_profile("quick")


@pytest.fixture(scope="session")
def full():
    return load_profile("full")
