"""Training recipes: the shipped adapters' commands in one TOML file each, run through the CLI's parser."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from SpinalSAMR1Lib.cli import main
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.training.recipe import load_recipe, stage_arguments


def test_stage_options_become_the_commands_arguments():
    argv = stage_arguments(
        {"epochs": 5, "frozen-norm": True, "no-cbam": False, "lora_layers": ["layers.3"], "volume": [],
         "slices": ["{data}/a", "{data}/b"], "lr": 1e-4},
        "/d",
        "here",
    )  # fmt: skip
    assert argv == ["--epochs", "5", "--frozen-norm", "--lora-layers", "layers.3", "--slices", "/d/a", "/d/b", "--lr", "0.0001"]  # fmt: skip
    assert stage_arguments({"volume": [["ct", "seg", "25-50"], ["c2", "s2", "1"]]}, "", "") == [
        "--volume", "ct", "seg", "25-50", "--volume", "c2", "s2", "1",
    ]  # fmt: skip
    with pytest.raises(UserError, match="option values"):
        stage_arguments({"epochs": {"a": 1}}, "", "here")


def test_the_shipped_recipes_parse_with_the_commands_own_defaults(capsys):
    spinal = load_recipe("spinal", "/data")
    assert spinal.command == "train" and len(spinal.stages) == 6
    assert "--resume" not in spinal.stages[0] and all("--resume" in s for s in spinal.stages[1:5])
    assert "--volume" in spinal.stages[3] and "--volume" not in spinal.stages[4]  # slice folders only
    last = spinal.stages[-1]
    assert last[last.index("--export") + 1] == "SpinalSAMR1Lib/resources/adapters/spinal.safetensors"
    assert main(["train", "--config", "spinal", "--data", "/data", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("stage ") == 6 and "/data/spine_ct_slices/axial" in out and "--frozen-norm" in out
    assert main(["train-vertebra", "--config", "vertebra", "--dry-run"]) == 0
    assert "--no-loco" in capsys.readouterr().out


def test_bad_recipes_are_refused_with_one_line(tmp_path, capsys):
    cases = {
        "wrong_command.toml": 'command = "segment"\n[[stage]]\nepochs = 1\n',
        "no_stage.toml": 'command = "train"\n',
        "not_toml.toml": "command = \n",
        "unknown_option.toml": 'command = "train"\n[[stage]]\nepocs = 1\n',
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert main(["train", "--config", str(tmp_path / name), "--dry-run"]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err, (name, err)
    assert main(["train", "--config", "vertebra", "--dry-run"]) == 2  # a recipe of train-vertebra
    assert "train-vertebra" in capsys.readouterr().err


@pytest.mark.slow
def test_a_two_stage_recipe_trains_resumes_and_the_adapter_records_how(tmp_path):
    """A tiny recipe on a synthetic slice folder: stage 2 resumes stage 1; the exported adapter names
    its recipe, its configuration, its base weights and the code that made it."""
    from SpinalSAMR1Lib.model import read_adapter

    folder = tmp_path / "data" / "axial"
    for sub in ("image", "mask"):
        (folder / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for n in range(3):
        mask = np.zeros((64, 80), np.uint8)
        mask[15 + n : 40 + n, 20:50] = 255
        image = np.where(mask > 0, 200, 90).astype(np.float64) + rng.normal(0, 5, mask.shape)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / "image" / f"s{n}.png")
        Image.fromarray(mask).save(folder / "mask" / f"s{n}.png")
    run = tmp_path / "run"
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        'command = "train"\n[defaults]\nslices = ["{data}/axial"]\nlora-layers = ["layers.3"]\n'
        f'variants = 1\nbatch-size = 2\ndevice = "cpu"\nout = "{run}"\nval-fraction = 0.34\n'
        f'[[stage]]\nepochs = 1\n[[stage]]\nresume = true\nepochs = 2\nexport = "{tmp_path / "out.safetensors"}"\n'
    )
    assert main(["train", "--config", str(recipe), "--data", str(tmp_path / "data")]) == 0
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]  # the second stage continued the first
    _, meta = read_adapter(tmp_path / "out.safetensors")
    extra = json.loads(meta["extra"])
    assert (
        extra["recipe"] == "train" and extra["config"]["epochs"] == 2 and extra["config"]["out"] == str(run)
    )
    assert meta["code_version"].startswith("0.") and meta["base_digest"]
