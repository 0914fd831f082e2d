"""Prompted 2D prediction with a cached image embedding (the SAM predictor pattern).

Coordinates: 2D images are (rows, cols) = (H, W); prompts are pixel (x, y) = (column, row) with
pixel centres at integers; a box is (x_min, y_min, x_max, y_max) in pixels. Images are grey levels
0..255 (see :mod:`SpinalSAMR1Lib.intensity`).

When the model has a ``crop_margin`` (set by adapters trained that way) and a box is given, the
encoder sees a crop around the box instead of the whole slice, so a small structure keeps its detail
at the encoder's input size (256 px for LiteMedSAM). With ``input_fit="area"`` (LiteMedSAM adapters)
that input is shaped like the crop instead of padded to a square, at the same pixel count.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError
from .model.spine_sam import SpineSAM

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive end), pixels


@dataclass
class Prediction:
    """A binary mask at slice resolution, its predicted IoU and its logits (for refinement)."""

    mask: np.ndarray  # (H, W) bool
    score: float
    logits: np.ndarray  # (H, W) float32, > 0 inside


@dataclass
class _Encoded:
    embedding: torch.Tensor  # (1, 256, h, w): 64 x 64 for square inputs
    rect: Rect
    resized_hw: tuple[int, int]  # size of the crop after resizing (see resized_shape)
    frame_hw: tuple[int, int]  # the encoder input: (S, S) square, or resized_hw with the area fit
    detail: torch.Tensor | None = None  # (1, 16, 4h, 4w) with a detail branch (model.detail)

    @property
    def nbytes(self) -> int:
        tensors = [self.embedding] + ([] if self.detail is None else [self.detail])
        return sum(t.element_size() * t.nelement() for t in tensors)

    @property
    def low_res_hw(self) -> tuple[int, int]:
        """Size of the decoder's mask logits (4 x the embedding grid); they cover ``frame_hw``."""
        return 4 * self.embedding.shape[-2], 4 * self.embedding.shape[-1]


def crop_rect(
    box: np.ndarray, image_hw: tuple[int, int], margin: float, min_size: int = 64, aspect: float = 1.0
) -> Rect:
    """Rectangle around ``box`` grown by ``margin`` x its size on every side, clipped, and at least
    ``min_size`` pixels of the finer axis long on each side in physical length (``aspect`` = row spacing /
    column spacing: a slice with 3 mm columns and 1 mm rows needs only a third as many columns)."""
    h, w = image_hw
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = max(x1 - x0 + 1, 1.0), max(y1 - y0 + 1, 1.0)
    side_x = max(bw * (1 + 2 * margin), min_size * min(1.0, aspect))
    side_y = max(bh * (1 + 2 * margin), min_size * min(1.0, 1.0 / aspect))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx0 = int(np.clip(np.floor(cx - side_x / 2), 0, w - 1))
    ry0 = int(np.clip(np.floor(cy - side_y / 2), 0, h - 1))
    rx1 = int(np.clip(np.ceil(cx + side_x / 2) + 1, rx0 + 1, w))
    ry1 = int(np.clip(np.ceil(cy + side_y / 2) + 1, ry0 + 1, h))
    return rx0, ry0, rx1, ry1


def resized_shape(
    h: int,
    w: int,
    size: int,
    aspect: float = 1.0,
    max_stretch: float = 1.0,
    fit: str = "square",
    area: float = 1.0,
    max_upscale: float | None = None,
) -> tuple[int, int]:
    """(rows, cols) a crop of h x w pixels is resized to before encoding; ``aspect`` = row spacing /
    column spacing, so the result has true physical proportions.

    ``fit="square"`` (SAM's rule): the physically longest side becomes ``size`` (rounded), and the
    input is that, padded to a ``size`` x ``size`` square. ``max_stretch`` > 1 then scales the short side
    up by up to that factor (never beyond ``size``); adapters trained that way record the factor.

    ``fit="area"`` (LiteMedSAM only): the input is shaped like the crop, with at most ``size``**2 pixels
    (the square's cost) and sides that are multiples of 4 (at most 2 x ``size``). A tall sagittal crop of
    the lumbar spine is then seen at about 1.5 x the resolution of the square fit, at the same cost.
    ``area`` > 1 raises the budget to ``area * size**2`` pixels (finer detail, proportionally more encoder
    time; adapters trained that way record it), still with sides of at most 2 x ``size``.
    ``max_upscale`` (area fit) caps the input at that many pixels per pixel of the crop's finer axis: a
    small crop (one vertebra of a CT) is then encoded at a fraction of the budget, with proportionally
    less encoder time, instead of being blown up to it (adapters trained that way record the cap).
    """
    ph, pw = h * aspect, float(w)
    if fit == "area":
        scale = min(size * area**0.5 / (ph * pw) ** 0.5, 2 * size / max(ph, pw))
        if max_upscale is not None:
            scale = min(scale, max_upscale / min(1.0, aspect))
        quarter = [max(1, int(v * scale / 4 + 1e-6)) for v in (ph, pw)]  # floor: within the budget
        return quarter[0] * 4, quarter[1] * 4
    scale = size / max(ph, pw)
    nh, nw = ph * scale, pw * scale
    if nh < nw:
        nh = min(float(size), nh * max_stretch)
    else:
        nw = min(float(size), nw * max_stretch)
    return max(1, min(size, int(nh + 0.5))), max(1, min(size, int(nw + 0.5)))


def model_input(
    model: SpineSAM, crop_hw: torch.Tensor, aspect: float = 1.0
) -> tuple[torch.Tensor, tuple[int, int]]:
    """(1, 3, H, W) normalised encoder input of a grey crop (h, w) 0..255, and the (rows, cols) the crop
    was resized to (placed top-left; the rest of the input is zero padding).

    H x W is ``size`` x ``size`` for the square fit, the resized crop itself for the area fit.
    """
    info = model.info
    size = model.image_size
    h, w = crop_hw.shape
    nh, nw = resized_shape(
        h, w, size, aspect, info.max_stretch, info.input_fit, info.input_area, info.max_upscale
    )
    fh, fw = (nh, nw) if info.input_fit == "area" else (size, size)
    x = crop_hw[None, None].expand(1, 3, h, w).to(model.device)
    x = F.interpolate(x, (nh, nw), mode="bilinear", align_corners=False, antialias=True)
    return F.pad(model.normalize(x), (0, fw - nw, 0, fh - nh)), (nh, nw)


def model_grey_levels(image: np.ndarray, normalization: str) -> np.ndarray:
    """(H, W) float32 grey levels 0..255 as a model takes them, in training and inference alike.

    ``normalization`` (``ModelInfo.normalization``): "unit" models (LiteMedSAM, MedSAM) saw every slice
    min-max scaled to 0..255 over the whole slice, so they get it so; the others take the levels as
    they are (their own mean/std normalisation follows in :func:`model_input`).
    """
    img = np.asarray(image, np.float32)
    if normalization != "unit":
        return img
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) * (255.0 / max(hi - lo, 1e-6))


def to_input_frame(xy: np.ndarray, rect: Rect, resized_hw: tuple[int, int]) -> np.ndarray:
    """Image pixel coordinates (N, 2) (x, y) -> the encoder input's, for a crop ``rect`` resized to
    ``resized_hw`` and placed top-left (see :func:`model_input`). SAM's rule: coordinates are scaled,
    not shifted by half a pixel. A box (4,) maps as its two corners: ``to_input_frame(box.reshape(2, 2),
    ...).reshape(4)``."""
    x0, y0, x1, y1 = rect
    nh, nw = resized_hw
    return (np.asarray(xy, float) - [x0, y0]) * [nw / (x1 - x0), nh / (y1 - y0)]


def crop_to_low_res(
    crop_11hw: torch.Tensor,
    resized_hw: tuple[int, int],
    frame_hw: tuple[int, int],
    low_res_hw: tuple[int, int],
    mode: str = "bilinear",
) -> torch.Tensor:
    """A (1, 1, h, w) map over a crop -> (1, 1, *low_res_hw) in the decoder's low-res frame, the way
    :func:`model_input` places the crop: resized to ``resized_hw``, top-left in the ``frame_hw`` encoder
    input (zero padding), then scaled to the low-res grid that covers that input.

    ``mode`` "bilinear" for logits (the predictor's mask input), "area" for masks (the trainer's target:
    the fraction of each cell inside the mask).
    """
    kw = {"align_corners": False} if mode == "bilinear" else {}
    nh, nw = resized_hw
    t = F.interpolate(crop_11hw, (nh, nw), mode=mode, **kw)
    t = F.pad(t, (0, frame_hw[1] - nw, 0, frame_hw[0] - nh))
    return F.interpolate(t, low_res_hw, mode=mode, **kw)


class Predictor:
    """Holds one model, caches image embeddings (LRU, memory-bounded) and predicts masks from prompts."""

    def __init__(
        self,
        model: SpineSAM,
        cache_mb: float = 256.0,
        crop_margin: float | None = "model",
        backend: str | None = None,
    ) -> None:
        """``backend``: where the image encoder runs, ``"torch"``, ``"openvino"`` or ``"auto"`` (default:
        OpenVINO when installed, for CPU models; see :mod:`.model.openvino_encoder`)."""
        from .model.openvino_encoder import resolve_backend

        self.model = model
        self.backend = resolve_backend(model, backend)
        self._openvino = None
        self.cache_bytes = int(cache_mb * 2**20)
        self.crop_margin = model.info.crop_margin if crop_margin == "model" else crop_margin
        self._cache: OrderedDict[Hashable, _Encoded] = OrderedDict()
        self._image: np.ndarray | None = None
        self._key: Hashable = None
        self._aspect = 1.0

    # -- image -------------------------------------------------------------------------------------
    def set_image(
        self, image: np.ndarray, key: Hashable | None = None, pixel_spacing: tuple[float, float] = (1.0, 1.0)
    ) -> None:
        """Use ``image`` ((H, W) grey 0..255) for the next predictions.

        Embeddings are cached by a digest of the pixels (about 1 ms for a 512 x 512 slice), so the same
        pixels reuse one embedding and a cached embedding can never serve other pixels, whatever
        ``key`` says. ``key`` (e.g. a volume node ID with the view and slice) only adds a namespace.
        ``pixel_spacing`` (row, column) in mm: non-square pixels (a sagittal slice of a CT with thick
        slices) are resampled so the model sees true proportions.
        """
        img = np.asarray(image)
        if img.ndim != 2 or min(img.shape) < 2:
            raise InputError(f"expected a 2D image of at least 2x2 pixels, got shape {img.shape}")
        img = model_grey_levels(img, self.model.info.normalization)
        self._image = img
        self._aspect = float(pixel_spacing[0]) / float(pixel_spacing[1])  # row mm / column mm
        digest = hashlib.blake2b(np.ascontiguousarray(img).data, digest_size=16).hexdigest()
        self._key = (key, digest, img.shape, round(self._aspect, 6))

    def has_embedding(self, rect: Rect | None = None) -> bool:
        """Whether the current image's embedding for ``rect`` is cached (default: the whole image, what a
        click with points only uses); the cache's LRU order is not touched."""
        if self._image is None:
            return False
        return self._cache_key(rect or self._rect_for(None)) in self._cache

    def encode_ahead(
        self, image: np.ndarray, key: Hashable | None = None, pixel_spacing: tuple[float, float] = (1.0, 1.0)
    ) -> bool:
        """Encode the whole of ``image`` into the cache, where a later ``set_image(image, key,
        pixel_spacing)`` and a click with points only look it up (any prompt without a ``crop_margin``; with
        one, a box is encoded as a crop around it, which cannot be known ahead). The current image stays as
        it was. Returns True when it encoded, False when the embedding was cached (it is then refreshed as
        the most recently used)."""
        saved = self._image, self._key, self._aspect
        try:
            self.set_image(image, key, pixel_spacing)
            cached = self.has_embedding()
            self._encoded(self._rect_for(None))
            return not cached
        finally:
            self._image, self._key, self._aspect = saved

    def _cache_key(self, rect: Rect) -> Hashable:
        return (self._key, self.model.info.name, self.model.info.adapter, rect)

    def _encoded(self, rect: Rect) -> _Encoded:
        key = self._cache_key(rect)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        enc = self._encode(rect)
        self._cache[key] = enc
        per_item = enc.nbytes
        while len(self._cache) > 1 and len(self._cache) * per_item > self.cache_bytes:
            self._cache.popitem(last=False)
        return enc

    def _encode(self, rect: Rect) -> _Encoded:
        x0, y0, x1, y1 = rect
        crop = torch.from_numpy(np.ascontiguousarray(self._image[y0:y1, x0:x1]))
        x, resized = model_input(self.model, crop, self._aspect)
        if self.backend == "openvino":
            if self._openvino is None:
                from .model.openvino_encoder import OpenVinoEncoder

                self._openvino = OpenVinoEncoder(self.model)
            emb, detail = self._openvino(x), None
        else:
            with torch.inference_mode():
                emb, detail = self.model.encode_parts(x)
        return _Encoded(emb, rect, resized, tuple(x.shape[-2:]), detail)

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- prediction --------------------------------------------------------------------------------
    def predict(
        self,
        points_xy: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_logits: np.ndarray | None = None,
        multimask: bool | None = None,
    ) -> Prediction:
        """Mask for the current image from points (N, 2) with labels (N,) 1/0, and/or one box (4,).

        ``mask_logits``: (H, W) logits of an earlier prediction to refine. ``multimask`` defaults to
        True for a single point without a box (ambiguous), choosing the mask with the best score.
        """
        if self._image is None:
            raise RuntimeError("call set_image() before predict()")
        pts = None if points_xy is None else np.asarray(points_xy, float).reshape(-1, 2)
        if pts is not None and len(pts) == 0:
            pts = None
        if pts is None and box is None:
            raise InputError("a prediction needs at least one point or a box")
        lab = None if pts is None else np.asarray(labels if labels is not None else np.ones(len(pts)), int)
        if multimask is None:
            multimask = pts is not None and len(pts) == 1 and box is None
        rect = self._rect_for(box)
        enc = self._encoded(rect)
        logits_low, iou = self._decode(enc, pts, lab, box, mask_logits, multimask)
        best = int(torch.argmax(iou[0]))
        full = self._to_image_frame(logits_low[:, best : best + 1], enc)
        return Prediction(mask=full > 0, score=float(iou[0, best]), logits=full)

    def features_at(self, points_xy: np.ndarray) -> np.ndarray:
        """(N, C) image-encoder features of the whole current image at pixel points (N, 2) (x, y),
        bilinearly sampled from the embedding grid (C = 256 for SAM-style encoders). Used to compare
        places by appearance (finding a vertebra again from the ones already segmented)."""
        if self._image is None:
            raise RuntimeError("call set_image() before features_at()")
        h, w = self._image.shape
        enc = self._encoded((0, 0, w, h))
        # Pixel centres sit at integers: pixel x spans [x - 0.5, x + 0.5), i.e. [x, x + 1) of the frame.
        at = self._to_input(np.asarray(points_xy, float).reshape(-1, 2) + 0.5, enc)
        fh, fw = enc.frame_hw
        grid = torch.as_tensor(at / [fw, fh] * 2 - 1, dtype=torch.float32, device=enc.embedding.device)
        with torch.inference_mode():
            sampled = F.grid_sample(enc.embedding.float(), grid[None, :, None], align_corners=False)
        return sampled[0, :, :, 0].T.cpu().numpy()

    def _rect_for(self, box: np.ndarray | None) -> Rect:
        h, w = self._image.shape
        if box is None or self.crop_margin is None:
            return 0, 0, w, h
        return crop_rect(np.asarray(box, float), (h, w), self.crop_margin, aspect=self._aspect)

    def _to_input(self, xy: np.ndarray, enc: _Encoded) -> np.ndarray:
        """Image pixel (x, y) -> model input frame coordinates (SAM's resize-longest-side rule)."""
        return to_input_frame(xy, enc.rect, enc.resized_hw)

    def _decode(self, enc, pts, lab, box, mask_logits, multimask):
        dev = self.model.device
        p_t = l_t = b_t = m_t = None
        if pts is not None:
            p_t = torch.as_tensor(self._to_input(pts, enc), dtype=torch.float32, device=dev)[None]
            l_t = torch.as_tensor(lab, dtype=torch.int64, device=dev)[None]
        if box is not None:
            b = np.asarray(box, float).reshape(2, 2)
            b_t = torch.as_tensor(self._to_input(b, enc).reshape(1, 4), dtype=torch.float32, device=dev)
        if mask_logits is not None:
            m_t = self._to_low_res(np.asarray(mask_logits, np.float32), enc)
        with torch.inference_mode():
            return self.model.decode(enc.embedding, p_t, l_t, b_t, m_t, multimask, enc.detail)

    def _to_low_res(self, logits: np.ndarray, enc: _Encoded) -> torch.Tensor:
        """(H, W) image-frame logits -> (1, 1, *low_res_hw) mask input in the encoder's frame."""
        x0, y0, x1, y1 = enc.rect
        t = torch.from_numpy(np.ascontiguousarray(logits[y0:y1, x0:x1]))[None, None].to(self.model.device)
        return crop_to_low_res(t, enc.resized_hw, enc.frame_hw, enc.low_res_hw, "bilinear")

    def _to_image_frame(self, logits_low: torch.Tensor, enc: _Encoded) -> np.ndarray:
        """(1, 1, *low_res_hw) logits -> (H, W) float32 logits of the whole image (-20 outside the crop)."""
        x0, y0, x1, y1 = enc.rect
        nh, nw = enc.resized_hw
        t = F.interpolate(logits_low.float(), enc.frame_hw, mode="bilinear", align_corners=False)
        t = F.interpolate(t[..., :nh, :nw], (y1 - y0, x1 - x0), mode="bilinear", align_corners=False)
        full = np.full(self._image.shape, -20.0, np.float32)
        full[y0:y1, x0:x1] = t[0, 0].cpu().numpy()
        return full
