"""Training recipes: the commands that produced a shipped adapter, as one checked-in TOML file.

A recipe names a command (``train`` or ``train-vertebra``) and its stages; each stage is the options of
that command, written as in ``--help`` without the dashes (``lora-layers = ["layers.3"]``,
``frozen-norm = true``), on top of the recipe's ``[defaults]``. ``{data}`` in a value is the data
folder. Every stage becomes an ordinary argument list parsed by the command's own parser, so a recipe
and the command line share one set of defaults::

    command = "train"
    [defaults]
    slices = ["{data}/spine_ct_slices/axial"]
    [[stage]]
    epochs = 5
    out = "runs/spinal"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

SHIPPED_RECIPES = Path(__file__).resolve().parents[1] / "resources" / "recipes"
COMMANDS = ("train", "train-vertebra")


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: its file, command and one argument list per stage (without the command)."""

    path: Path
    command: str
    description: str
    stages: list[list[str]]


def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file: a path, or the name of a shipped one (``spinal``, ``vertebra``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = SHIPPED_RECIPES / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = ", ".join(sorted(p.stem for p in SHIPPED_RECIPES.glob("*.toml")))
    raise UserError(f"no recipe {name_or_path}: give a .toml file or one of {names}")


def load_recipe(name_or_path: str | Path, data: str | Path) -> Recipe:
    """Read a recipe and turn each stage into the argument list of its command."""
    path = recipe_path(name_or_path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"cannot read the recipe {path}: {exc}") from exc
    command = doc.get("command")
    if command not in COMMANDS:
        raise UserError(f"{path}: 'command' must be one of {', '.join(COMMANDS)}, not {command!r}")
    stages = doc.get("stage") or []
    if not stages or not all(isinstance(s, dict) for s in stages):
        raise UserError(f"{path}: no [[stage]] tables")
    defaults = doc.get("defaults") or {}
    argv = [
        stage_arguments({**defaults, **stage}, str(data), f"{path} stage {n}")
        for n, stage in enumerate(stages, 1)
    ]
    return Recipe(path, command, str(doc.get("description", "")), argv)


def stage_arguments(options: dict, data: str, where: str) -> list[str]:
    """``{"epochs": 5, "frozen-norm": True, "volume": [[ct, seg, ids]]}`` -> ``--epochs 5 --frozen-norm
    --volume ct seg ids``; false and empty values are left out."""
    argv: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False or value == []:
            continue
        elif isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            for group in value:  # an option given several times, each with several values (--volume)
                argv += [flag, *(_text(v, data, where) for v in group)]
        elif isinstance(value, list):
            argv += [flag, *(_text(v, data, where) for v in value)]
        else:
            argv += [flag, _text(value, data, where)]
    return argv


def _text(value, data: str, where: str) -> str:
    if isinstance(value, dict | list):
        raise UserError(f"{where}: option values are numbers, text, true/false or lists, not {value!r}")
    return str(value).replace("{data}", data)
