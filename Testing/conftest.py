"""Shared fixtures: the development data folder (../shared/data) and the models, each loaded once a session.

A test that changes a model (adds LoRA, CBAM or the detail branch, trains it, moves its weights) takes a
private copy (``fresh_lite_model``) so that the shared one stays as loaded."""

from __future__ import annotations

import copy
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
def fresh_lite_model(lite_model):
    """A private LiteMedSAM for one test to change: a deep copy of the shared one (identical weights, state
    and info; Testing/test_model.py checks the copy is exact), at a fraction of a load's cost."""
    return copy.deepcopy(lite_model)


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
