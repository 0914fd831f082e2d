"""Adapter files: LoRA + CBAM (+ detail branch, tuned decoder) weights in one small safetensors file.

The file never contains base weights. Its metadata records what it adapts so that loading it onto the
wrong backbone fails with a clear message instead of silently doing nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..atomic import atomic_path
from ..errors import UserError
from ..provenance import code_version
from .backbones import backbone_spec
from .lora import LoraSettings, inject_lora
from .spine_sam import SpineSAM, is_added_parameter

ADAPTER_FORMAT = "spinalsam-r1-adapter/1"


def adapter_parameter_names(model: SpineSAM) -> list[str]:
    """Parameters that belong in an adapter: LoRA, CBAM, the detail branch, any trainable decoder/prompt
    parameters, and those an adapter applied to ``model`` set (so re-saving a loaded model keeps them)."""
    applied = set(model.info.extra.get("adapter_parameters", ()))
    names = []
    for name, param in model.named_parameters():
        if is_added_parameter(name) or name in applied:
            names.append(name)
        elif param.requires_grad and name.startswith(("mask_decoder.", "prompt_encoder.")):
            names.append(name)
    return names


def encoder_norm_statistics(model: SpineSAM) -> dict[str, torch.Tensor]:
    """Running mean/variance of the image encoder's BatchNorm layers, by buffer name.

    They are not parameters, but they move while LoRA trains (the stages after the first LoRA layer run
    in training mode), so an adapter must carry them to reproduce the model that was validated.
    """
    stats = {}
    for name, module in model.image_encoder.named_modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            stats[f"image_encoder.{name}.running_mean"] = module.running_mean
            stats[f"image_encoder.{name}.running_var"] = module.running_var
    return stats


def adapter_targets(model: SpineSAM) -> dict[str, torch.Tensor]:
    """Every tensor an adapter file may set on ``model``, by name: its parameters and the encoder's
    BatchNorm statistics (older adapters carry none; the base model's are kept then)."""
    return dict(model.named_parameters()) | encoder_norm_statistics(model)


def _key_group(name: str) -> str:
    """The part of an adapter a key belongs to, for messages: "lora_A", "lora_B", "cbam", "detail",
    "norm statistics", "mask_decoder" or "prompt_encoder"."""
    for part in ("lora_A", "lora_B"):
        if f".{part}." in name:
            return part
    if name.endswith(("running_mean", "running_var")):
        return "norm statistics"
    return name.split(".", 1)[0]


def missing_adapter_keys(model: SpineSAM, tensors: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Keys an adapter file must hold for ``model`` (its adapter structure already built from the file's
    metadata) but does not, grouped by :func:`_key_group`.

    Required: every LoRA/CBAM/detail parameter the metadata asks for; the encoder's BatchNorm statistics
    and the decoder/prompt-encoder weights are all-or-none (older adapters carry none and keep the base
    model's), so a file with some of them but not all is broken.
    """
    required = {n for n, _ in model.named_parameters() if is_added_parameter(n)}
    optional_groups: dict[str, set[str]] = {
        "norm statistics": set(encoder_norm_statistics(model)),
        "mask_decoder": {n for n, _ in model.mask_decoder.named_parameters(prefix="mask_decoder")},
        "prompt_encoder": {n for n, _ in model.prompt_encoder.named_parameters(prefix="prompt_encoder")},
    }
    for names in optional_groups.values():
        if names & set(tensors):
            required |= names
    missing: dict[str, list[str]] = {}
    for name in sorted(required - set(tensors)):
        missing.setdefault(_key_group(name), []).append(name)
    return missing


def describe_missing(missing: dict[str, list[str]]) -> str:
    """'12 keys missing (lora_B: 8, cbam: 4)' for a :func:`missing_adapter_keys` result."""
    total = sum(len(v) for v in missing.values())
    groups = ", ".join(f"{g}: {len(v)}" for g, v in sorted(missing.items()))
    return f"{total} keys missing ({groups})"


def base_identity(model: SpineSAM) -> dict[str, str]:
    """What identifies the base weights an adapter is trained on: the backbone, the digest of the base
    weights (:func:`~.checkpoints.weights_digest`) and, for a backbone whose weights come in a package
    (LiteMedSAM's), that package's name and version."""
    ident = {"base_digest": model.info.base_digest or ""}
    package = backbone_spec(model.info.backbone).weights_package
    if package:
        ident["base_package"] = _package_version(package)
    return ident


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        return ""


def save_adapter(model: SpineSAM, path: str | os.PathLike, extra: dict | None = None) -> Path:
    """Write the model's adapter weights and settings to ``path`` (.safetensors), atomically.

    LoRA, CBAM and the detail branch are stored in float32; tuned decoder weights in float16 to keep the
    file small. With LoRA, the encoder's BatchNorm statistics (float32, about 40 KB) are stored too.
    """
    from safetensors.torch import save_file

    params = dict(model.named_parameters())
    tensors = {}
    for name in adapter_parameter_names(model):
        t = params[name].detach().to("cpu")
        small = is_added_parameter(name)
        tensors[name] = (t.float() if small else t.half()).contiguous()
    if model.info.lora is not None:
        for name, t in encoder_norm_statistics(model).items():
            tensors[name] = t.detach().to("cpu").float().contiguous()
    info = model.info
    meta = {
        "format": ADAPTER_FORMAT,
        "backbone": info.backbone,
        "normalization": info.normalization,
        "lora": json.dumps(
            None
            if info.lora is None
            else info.lora.__dict__ | {"targets": list(info.lora.targets), "layers": list(info.lora.layers)}
        ),
        "cbam": json.dumps(info.cbam),
        "detail": json.dumps(info.detail),
        "crop_margin": json.dumps(info.crop_margin),
        "max_stretch": json.dumps(info.max_stretch),
        "input_fit": info.input_fit,
        "input_area": json.dumps(info.input_area),
        "max_upscale": json.dumps(info.max_upscale),
        "extra": json.dumps(extra or {}),
        "code_version": code_version(),
        **base_identity(model),
    }
    target = Path(path)
    with atomic_path(target, overwrite=True, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return target


def read_adapter(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of an adapter file; clear error if it is not one."""
    return _open_adapter(Path(path), with_tensors=True)


def _open_adapter(p: Path, with_tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    if not p.is_file():
        raise UserError(f"adapter not found: {p}")
    try:
        with safe_open(str(p), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()} if with_tensors else {}
    except Exception as exc:
        raise UserError(
            f"cannot read adapter {p}: truncated, corrupt or not a safetensors file ({type(exc).__name__})"
        ) from exc
    if meta.get("format") != ADAPTER_FORMAT:
        raise UserError(f"{p} is not a SpinalSAM-R1 adapter (format {meta.get('format')!r})")
    return tensors, meta


def _check_base(meta: dict[str, str], name: str, backbone: str, base_digest: str | None) -> None:
    if meta.get("backbone") != backbone:
        raise UserError(f"adapter {name} was trained for {meta.get('backbone')}, not {backbone}")
    trained_on, here = meta.get("base_digest", ""), base_digest or ""
    if trained_on and here and trained_on != here:
        raise UserError(
            f"adapter {name} was trained on other {meta['backbone']} base weights "
            f"(digest {trained_on}, {meta.get('base_package') or 'unknown source'}); these are {here}"
        )


def check_adapter(path: str | os.PathLike, backbone: str, base_digest: str | None = None) -> None:
    """Refuse, before a model is built, an adapter file that cannot be read, is not one, or was trained
    for another backbone or other base weights (``base_digest``: :func:`weights_digest` of the base)."""
    p = Path(path)
    _check_base(_open_adapter(p, with_tensors=False)[1], p.name, backbone, base_digest)


def apply_adapter(model: SpineSAM, path: str | os.PathLike) -> SpineSAM:
    """Inject the adapter's LoRA/CBAM into ``model`` and load its weights.

    Strict both ways: a key the model lacks, a key the adapter's own settings call for but the file
    lacks, a shape mismatch, or base weights other than those it was trained on (its recorded digest)
    is a :class:`UserError`; the model is not to be used after one.
    """
    tensors, meta = read_adapter(path)
    name = Path(path).name
    _check_base(meta, name, model.info.backbone, model.info.base_digest)
    lora = json.loads(meta.get("lora", "null"))
    if lora:
        settings = LoraSettings(
            rank=int(lora["rank"]),
            alpha=float(lora["alpha"]),
            targets=tuple(lora["targets"]),
            layers=tuple(lora.get("layers", ())),
        )
        inject_lora(model.image_encoder, settings)
        model.info.lora = settings
    if json.loads(meta.get("cbam", "false")):
        model.add_cbam()
    if json.loads(meta.get("detail", "false")):
        try:
            model.add_detail()
        except UserError as exc:
            raise UserError(f"adapter {name}: {exc}") from exc
    model.info.crop_margin = json.loads(meta.get("crop_margin", "null"))
    model.info.max_stretch = float(json.loads(meta.get("max_stretch", "1.0")))
    try:
        model.set_input_fit(
            meta.get("input_fit", "square"),
            float(json.loads(meta.get("input_area", "1.0"))),
            json.loads(meta.get("max_upscale", "null")),
        )
    except UserError as exc:
        raise UserError(f"adapter {name}: {exc}") from exc
    model.info.normalization = meta.get("normalization", model.info.normalization)
    params = adapter_targets(model)
    unknown = sorted(set(tensors) - set(params))
    if unknown:
        raise UserError(f"adapter {name} does not fit this model: unexpected keys such as {unknown[0]}")
    missing = missing_adapter_keys(model, tensors)
    if missing:
        raise UserError(f"adapter {name} is incomplete: {describe_missing(missing)}")
    with torch.no_grad():
        for key, t in tensors.items():
            if params[key].shape != t.shape:
                raise UserError(
                    f"adapter {name}: {key} has shape {tuple(t.shape)}, model {tuple(params[key].shape)}"
                )
            params[key].copy_(t.to(params[key].dtype))
    model.info.adapter = str(path)
    model.info.extra["adapter_parameters"] = sorted(n for n in tensors if n in dict(model.named_parameters()))
    return model
