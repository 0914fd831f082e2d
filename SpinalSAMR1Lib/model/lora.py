"""LoRA on the image encoder's attention projections, through peft.

Both backbones name their attention projections ``qkv`` (fused query/key/value) and ``proj`` (output)
as ``nn.Linear`` layers, so one target list serves TinyViT (LiteMedSAM) and ViT (SAM, MedSAM).
peft initialises LoRA's B matrices to zero: an injected but untrained adapter changes nothing.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field, replace

from torch import nn

DEFAULT_TARGETS: tuple[str, ...] = ("qkv", "proj")


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters: rank r, scaling alpha (update scaled by alpha / r), target module names,
    and optionally the encoder stages (module path prefixes such as "layers.3") to restrict LoRA to."""

    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = field(default=DEFAULT_TARGETS)
    dropout: float = 0.0
    layers: tuple[str, ...] = ()

    def target_modules(self) -> list[str] | str:
        """peft's ``target_modules``: name suffixes, or a full-match regex when ``layers`` restricts them."""
        if not self.layers:
            return list(self.targets)
        stages = "|".join(re.escape(p) for p in self.layers)
        names = "|".join(re.escape(t) for t in self.targets)
        return rf"(?:.*\.)?(?:{stages})\..*\.(?:{names})"


def inject_lora(encoder: nn.Module, settings: LoraSettings) -> nn.Module:
    """Add LoRA layers in place to every Linear of ``encoder`` whose name ends with a target."""
    from peft import LoraConfig, inject_adapter_in_model

    if settings.rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {settings.rank}")
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules(),
        bias="none",
    )
    return inject_adapter_in_model(config, encoder)


def extend_lora(encoder: nn.Module, settings: LoraSettings, layers: tuple[str, ...]) -> LoraSettings:
    """Add LoRA (same rank, alpha, targets; zero at start) to the stages of ``layers`` that ``settings``
    (already injected in ``encoder``) lacks, and return the combined settings. Settings on every
    attention layer (no ``layers``) are returned as they are."""
    if not settings.layers:
        return settings
    if not layers:
        raise ValueError(f"LoRA is on {' '.join(settings.layers)} only; name the stages to add")
    missing = tuple(layer for layer in layers if layer not in settings.layers)
    if not missing:
        return settings
    with warnings.catch_warnings():
        # peft warns that the encoder already holds an adapter: the new layers join it on purpose
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        inject_lora(encoder, replace(settings, layers=missing))
    return replace(settings, layers=tuple(sorted(settings.layers + missing)))


def lora_parameter_names(module: nn.Module) -> list[str]:
    """Names of the LoRA parameters of ``module`` (those peft adds: lora_A / lora_B)."""
    return [name for name, _ in module.named_parameters() if "lora_" in name]
