"""Equation of state of the declared elements' crystals against WIEN2k PBE (ASE's dcdft) and any
--eos-reference file: Delta gauge, V0 and B0. One E(V) curve per crystal (memoised), three verdicts."""
import pytest

from mlipcheck.checks.properties.eos import check_eos_bulk_modulus, check_eos_delta, check_eos_volume

pytestmark = [pytest.mark.mlipcheck, pytest.mark.properties, pytest.mark.model_items("eos", "eos")]


@pytest.mark.quick
def test_eos_delta(ctx, item, profile, verdict):
    verdict(check_eos_delta(ctx, item, profile.section("eos")))


def test_eos_volume(ctx, item, profile, verdict):
    verdict(check_eos_volume(ctx, item, profile.section("eos")))


def test_eos_bulk_modulus(ctx, item, profile, verdict):
    verdict(check_eos_bulk_modulus(ctx, item, profile.section("eos")))
