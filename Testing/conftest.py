"""Shared fixtures: the development data folder (../shared/data) and one LiteMedSAM predictor."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Model tests compare against torch numbers and train throw-away adapters: they run the encoder on torch
# (converting every trained adapter to OpenVINO would cost 10-30 s each); test_openvino.py runs OpenVINO.
os.environ.setdefault("SPINALSAM_BACKEND", "torch")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"development data not found at {SHARED_DATA} (it sits beside the repository)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def lite_model():
    from SpinalSAMR1Lib.model import load_model

    return load_model("litemedsam", device="cpu")


@pytest.fixture()
def lite_predictor(lite_model):
    from SpinalSAMR1Lib.predictor import Predictor

    return Predictor(lite_model, cache_mb=64)


@pytest.fixture(scope="session")
def spinal_model():
    from SpinalSAMR1Lib.model import load_model

    return load_model("spinal", device="cpu")


@pytest.fixture(scope="session")
def vertebra_model():
    from SpinalSAMR1Lib.model import load_model

    return load_model("vertebra", device="cpu")


@pytest.fixture()
def vertebra_predictor(vertebra_model):
    """The default model of the 3D vertebra mode (it answers "nothing here" beyond a vertebra)."""
    from SpinalSAMR1Lib.predictor import Predictor

    return Predictor(vertebra_model, cache_mb=64)


@pytest.fixture()
def spinal_predictor(spinal_model):
    from SpinalSAMR1Lib.predictor import Predictor

    return Predictor(spinal_model, cache_mb=64)
