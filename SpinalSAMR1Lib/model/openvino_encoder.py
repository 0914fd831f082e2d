"""The image encoder on OpenVINO (CPU): the loaded model's own encoder (LoRA, CBAM and BatchNorm
statistics included), converted once, cached on disk, run in fp32.

- **What is converted**: ``model.encode_parts(x)[0]``, i.e. exactly what the torch path computes, with a
  dynamic input height and width, so SAM's square inputs and the adapters' area-fit shapes (sides
  multiples of 4) use one compiled model. Measured here: max abs difference of the embeddings 3e-6
  (values up to 0.66) on square and area-fit inputs, 2.4x faster than torch on the same shared 2-core CPU
  (``spinalsam-r1 bench speed`` measures it in one run).
- **Cache**: the converted model is saved under ``cache_dir()/<digest>/encoder.xml``; the digest covers
  every weight of the model (all bytes of every tensor), so a cached encoder can never serve other
  weights. Conversion takes 10-30 s once per model.
- **Not converted**: models with a detail branch (its taps are a second output) stay on torch.
- **Precision**: fp32 is asked for explicitly (OpenVINO may otherwise pick bf16 on CPUs that have it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError

BACKENDS = ("auto", "torch", "openvino")


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def resolve_backend(model, backend: str | None) -> str:
    """``"torch"`` or ``"openvino"`` for ``model``: ``auto`` (default, or ``SPINALSAM_BACKEND``) takes
    OpenVINO when it is installed, the model runs on the CPU and has no detail branch."""
    choice = (backend or os.environ.get("SPINALSAM_BACKEND") or "auto").lower()
    if choice not in BACKENDS:
        raise UserError(f"unknown backend {choice!r}; expected one of {', '.join(BACKENDS)}")
    usable = model.device.type == "cpu" and not model.info.detail
    if choice == "openvino":
        if not openvino_available():
            raise UserError("the openvino backend is not installed: pip install openvino")
        if not usable:
            raise UserError("the openvino backend runs CPU models without a detail branch only")
        return "openvino"
    if choice == "auto" and usable and openvino_available():
        return "openvino"
    return "torch"


def cache_dir() -> Path:
    """Where converted encoders are kept: ``SPINALSAM_CACHE_DIR`` or ``~/.cache/spinalsam-r1``."""
    root = os.environ.get("SPINALSAM_CACHE_DIR") or Path.home() / ".cache" / "spinalsam-r1"
    return Path(root) / "openvino"


def model_digest(model: torch.nn.Module) -> str:
    """blake2b over every parameter and buffer (names, shapes, dtypes and all bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted({**dict(model.named_parameters()), **dict(model.named_buffers())}.items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class _Embeddings(torch.nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, images_b3hw: torch.Tensor) -> torch.Tensor:
        return self.model.encode_parts(images_b3hw)[0]


class OpenVinoEncoder:
    """Callable (B, 3, H, W) float tensor -> (B, 256, H/4, W/4) embeddings, like ``encode_parts``."""

    def __init__(self, model, threads: int | None = None) -> None:
        import openvino as ov

        self._core = ov.Core()
        folder = cache_dir() / model_digest(model)
        xml = folder / "encoder.xml"
        if xml.is_file():
            converted = self._core.read_model(str(xml))
        else:
            example = torch.zeros(1, 3, model.info.image_size, model.info.image_size)
            # The tracer warns that TinyViT's padding tests become constants: the padding amounts stay
            # dynamic (tested against torch on padded and unpadded shapes), so the warnings are noise here.
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                converted = ov.convert_model(
                    _Embeddings(model).eval(), example_input=example, input=[-1, 3, -1, -1]
                )
            _save_atomically(ov, converted, folder)
        config = {
            "INFERENCE_PRECISION_HINT": "f32",
            "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
        }
        self._compiled = self._core.compile_model(converted, "CPU", config)

    def __call__(self, images_b3hw: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(images_b3hw.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(np.array(self._compiled(x)[0]))


def _save_atomically(ov, converted, folder: Path) -> None:
    """Write encoder.xml/.bin into a temporary folder beside ``folder``, then rename it into place (another
    process converting the same model at once simply loses the race)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    ov.save_model(converted, str(tmp / "encoder.xml"), compress_to_fp16=False)
    try:
        tmp.rename(folder)
    except OSError:  # already there: keep the first one
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
