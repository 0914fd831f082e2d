"""PNG reports of a training run, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..io import write_png
from ..overlay import boundary, overlay

_COLOURS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
]


def _series(history: list[dict]) -> dict[str, list[float]]:
    series = {"train loss": [h["loss"] for h in history]}
    for key in history[0]["val"] if history else []:
        if "/" in key:
            series[f"val dice {key}"] = [h["val"].get(key, np.nan) for h in history]
    return series


def plot_curves(history: list[dict], path: Path, size: tuple[int, int] = (900, 520)) -> None:
    """Training loss (left axis, scaled to its max) and validation Dice per view/prompt (0..1) by epoch."""
    if not history:
        return
    w, h = size
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 60, w - 260, 20, h - 40
    d.rectangle([left, top, right, bottom], outline="black")
    n = len(history)
    series = _series(history)
    loss_max = max(series["train loss"]) or 1.0
    for i, (name, values) in enumerate(series.items()):
        scale = loss_max if name == "train loss" else 1.0
        pts = [
            (left + (right - left) * (k / max(1, n - 1)), bottom - (bottom - top) * (v / scale))
            for k, v in enumerate(values)
            if np.isfinite(v)
        ]
        colour = _COLOURS[i % len(_COLOURS)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for p in pts:
            d.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=colour)
        d.text((right + 10, top + 16 * i), name, fill=colour)
    for v in (0.0, 0.5, 0.9, 1.0):
        y = bottom - (bottom - top) * v
        d.line([(left - 4, y), (left, y)], fill="black")
        d.text((8, y - 6), f"{v:.1f}", fill="black")
    d.text((left, bottom + 10), f"epoch 1 .. {n}   (loss scaled to its max {loss_max:.3f})", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def plot_samples(model, samples, path: Path, per_view: int = 2, height: int = 256) -> None:
    """Box-prompt predictions (colour) with the reference outline (white) for a few validation slices."""
    from ..evaluation import predict_2d
    from ..predictor import Predictor

    pred = Predictor(model, cache_mb=32)
    tiles = []
    for view in dict.fromkeys(s.view for s in samples):
        for s in [x for x in samples if x.view == view][:per_view]:
            mask = predict_2d(pred, s.image, s.mask, "box", window=None)
            rgb = overlay(s.image, mask.astype(np.uint8), outline=boundary(s.mask))
            im = Image.fromarray(rgb)
            tiles.append(im.resize((max(1, int(im.width * height / im.height)), height)))
    if not tiles:
        return
    canvas = np.zeros((height, sum(t.width for t in tiles), 3), np.uint8)
    x = 0
    for t in tiles:
        canvas[:, x : x + t.width] = np.asarray(t)
        x += t.width
    write_png(path, canvas, overwrite=True)
