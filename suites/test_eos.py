"""Equation of state of the declared elements' crystals against WIEN2k PBE (ASE's dcdft) and any
--eos-reference file: Delta gauge, V0 and B0. One E(V) curve per crystal, three verdicts."""
import pytest

from mlipcheck.checks.properties.eos import check_eos

pytestmark = [pytest.mark.mlipcheck, pytest.mark.properties, pytest.mark.model_items("eos", "eos")]


@pytest.fixture
def eos_measurements(model, item, profile):
    return {m.check: m for m in check_eos(model, item, profile.section("eos"))}


@pytest.mark.quick
def test_eos_delta(eos_measurements, verdict):
    verdict(eos_measurements["eos_delta"])


def test_eos_volume(eos_measurements, verdict):
    verdict(eos_measurements["eos_volume"])


def test_eos_bulk_modulus(eos_measurements, verdict):
    verdict(eos_measurements["eos_bulk_modulus"])
