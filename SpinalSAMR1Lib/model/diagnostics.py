"""Model verification and device status, for `spinalsam-r1 info`, the chat and the Slicer module."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import torch

from .adapter import adapter_parameter_names, adapter_targets, missing_adapter_keys, read_adapter
from .checkpoints import read_state_dict
from .spine_sam import SpineSAM, is_added_parameter


def device_status() -> dict:
    """CUDA device name and memory (GB) when present, else CPU threads and system RAM (GB)."""
    status: dict = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        idx = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        free, total = torch.cuda.mem_get_info(idx)
        status.update(
            device=f"cuda:{idx}",
            name=props.name,
            memory_total_gb=round(total / 2**30, 2),
            memory_free_gb=round(free / 2**30, 2),
        )
    else:
        status.update(
            device="cpu",
            name=platform.processor() or platform.machine(),
            threads=torch.get_num_threads(),
            cpu_count=os.cpu_count(),
            memory_total_gb=_ram_gb("MemTotal"),
            memory_free_gb=_ram_gb("MemAvailable"),
        )
    return status


def _ram_gb(field: str) -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 2**20, 2)
    return None


def verify(
    model: SpineSAM, checkpoint: str | os.PathLike | None = None, adapter: str | os.PathLike | None = None
) -> dict:
    """Parameter counts and key matching between ``model`` and a checkpoint / adapter file.

    ``missing`` are model keys the checkpoint lacks (LoRA/CBAM keys excluded: they come from the
    adapter), or keys the adapter's settings call for that the adapter file lacks; ``unexpected`` are checkpoint keys the model lacks; ``matched`` are keys present in both
    with equal shapes; ``shape_mismatch`` lists keys present in both with different shapes.
    """
    params = dict(model.named_parameters())
    report: dict = {
        "model": model.info.name,
        "backbone": model.info.backbone,
        "total_parameters": sum(p.numel() for p in params.values()),
        "adapter_parameters": sum(params[n].numel() for n in adapter_parameter_names(model) if n in params),
        "trainable_parameters": sum(p.numel() for p in params.values() if p.requires_grad),
    }
    ckpt = checkpoint or model.info.checkpoint
    if ckpt:
        state = read_state_dict(ckpt)
        model_state = {k: v for k, v in model.state_dict().items() if not is_added_parameter(k)}
        model_state = {k.replace(".base_layer.", "."): v for k, v in model_state.items()}
        common = set(model_state) & set(state)
        mismatch = sorted(k for k in common if tuple(model_state[k].shape) != tuple(state[k].shape))
        report["checkpoint"] = {
            "path": str(ckpt),
            "matched": len(common) - len(mismatch),
            "missing": sorted(set(model_state) - set(state)),
            "unexpected": sorted(set(state) - set(model_state)),
            "shape_mismatch": mismatch,
        }
        report["checkpoint"]["ok"] = not (
            report["checkpoint"]["missing"] or report["checkpoint"]["unexpected"] or mismatch
        )
    ada = adapter or model.info.adapter
    if ada:
        tensors, meta = read_adapter(ada)
        known = adapter_targets(model)
        unknown = sorted(k for k in tensors if k not in known)
        bad = sorted(k for k in tensors if k in known and tuple(known[k].shape) != tuple(tensors[k].shape))
        missing = sorted(k for keys in missing_adapter_keys(model, tensors).values() for k in keys)
        base = meta.get("base_digest", "")
        base_ok = not base or not model.info.base_digest or base == model.info.base_digest
        report["adapter_parameters"] = sum(t.numel() for k, t in tensors.items() if k in params)
        report["adapter"] = {
            "path": str(ada),
            "backbone": meta.get("backbone"),
            "base_digest": base or None,
            "recipe": json.loads(meta.get("extra", "{}") or "{}").get("recipe"),
            "code_version": meta.get("code_version"),  # absent in adapters saved before it was recorded
            "tensors": len(tensors),
            "missing": missing,
            "unexpected": unknown,
            "shape_mismatch": bad,
            "ok": not (unknown or bad or missing) and base_ok and meta.get("backbone") == model.info.backbone,
        }
    return report
