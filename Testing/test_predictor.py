"""Predictor: real LiteMedSAM on real slices, embedding cache, determinism, crops, pixel aspect."""

from __future__ import annotations

import numpy as np
import pytest

from SpinalSAMR1Lib import metrics
from SpinalSAMR1Lib.evaluation import box_from_mask
from SpinalSAMR1Lib.io import read_image_2d
from SpinalSAMR1Lib.predictor import crop_rect, resized_shape


@pytest.fixture(scope="module")
def axial(shared_data):
    root = shared_data / "spine_ct_slices" / "axial"
    return read_image_2d(root / "image" / "Case1_10.png"), read_image_2d(root / "mask" / "Case1_10.png") > 0


@pytest.mark.slow
def test_box_prompt_segments_the_vertebra(lite_predictor, axial):
    image, ref = axial
    lite_predictor.set_image(image)
    pred = lite_predictor.predict(box=box_from_mask(ref))
    assert pred.mask.shape == ref.shape and pred.mask.dtype == bool
    assert metrics.dice(pred.mask, ref) > 0.75
    assert 0.0 < pred.score <= 1.2 and pred.logits.shape == ref.shape


@pytest.mark.slow
def test_embeddings_are_cached_and_results_deterministic(lite_predictor, axial):
    image, ref = axial
    calls = []
    original = lite_predictor._encode
    lite_predictor._encode = lambda rect: calls.append(rect) or original(rect)
    box = box_from_mask(ref)
    lite_predictor.set_image(image)
    a = lite_predictor.predict(box=box)
    lite_predictor.set_image(image.copy())  # same pixels, no key: the content hash finds the embedding
    b = lite_predictor.predict(box=box + 2)
    lite_predictor.set_image(image, key="case-10")
    c = lite_predictor.predict(box=box)
    assert len(calls) == 2  # one per key, none for the repeated image
    np.testing.assert_array_equal(a.mask, c.mask)
    assert not np.array_equal(a.mask, b.mask) or metrics.dice(a.mask, b.mask) > 0.9


@pytest.mark.slow
def test_cache_is_bounded(lite_model):
    from SpinalSAMR1Lib.predictor import Predictor

    pred = Predictor(lite_model, cache_mb=9)  # two 4 MB embeddings
    rng = np.random.default_rng(0)
    for _ in range(3):
        pred.set_image(rng.uniform(0, 255, (64, 64)))
        pred.predict(box=np.array([10, 10, 40, 40]))
    assert len(pred._cache) == 2


@pytest.mark.slow
def test_refinement_with_previous_logits_and_negative_point(lite_predictor, axial):
    image, ref = axial
    lite_predictor.set_image(image)
    first = lite_predictor.predict(box=box_from_mask(ref))
    ys, xs = np.nonzero(first.mask)
    neg = np.array([[xs.min() + 1.0, ys.min() + 1.0]])
    second = lite_predictor.predict(
        points_xy=neg, labels=[0], box=box_from_mask(ref), mask_logits=first.logits
    )
    assert second.mask.shape == ref.shape
    assert metrics.dice(second.mask, ref) > 0.6


@pytest.mark.slow
def test_crop_mode_encodes_around_the_box(lite_model, axial):
    from SpinalSAMR1Lib.predictor import Predictor

    image, ref = axial
    pred = Predictor(lite_model, crop_margin=0.2)
    pred.set_image(image)
    out = pred.predict(box=box_from_mask(ref))
    (key,) = pred._cache
    assert key[-1] != (0, 0, image.shape[1], image.shape[0])
    assert metrics.dice(out.mask, ref) > 0.7
    x0, y0, x1, y1 = key[-1]
    assert not out.mask[:y0].any() and not out.mask[y1:].any()


@pytest.mark.slow
def test_stretched_crop_maps_back_to_the_image_frame(lite_model, axial):
    """A model that stretches tall crops must still return the mask at the right image pixels: a tall
    slice (the axial one stacked with a blank copy) gives the same mask in the vertebra's half."""
    from SpinalSAMR1Lib.predictor import Predictor

    image, ref = axial
    tall = np.concatenate([image, np.zeros_like(image)], axis=0)
    tall_ref = np.concatenate([ref, np.zeros_like(ref)], axis=0)
    old = lite_model.info.max_stretch
    try:
        lite_model.info.max_stretch = 2.0
        pred = Predictor(lite_model)
        pred.set_image(tall)
        out = pred.predict(box=box_from_mask(tall_ref))
        (enc,) = pred._cache.values()
        assert enc.resized_hw == (256, 256)  # a 2:1 slice fills the square input
    finally:
        lite_model.info.max_stretch = old
    assert not out.mask[ref.shape[0] :].any()
    assert metrics.dice(out.mask[: ref.shape[0]], ref) > 0.7


@pytest.mark.slow
def test_non_square_pixels_keep_physical_proportions(lite_model, axial):
    """A slice stored with 2x taller pixels, predicted with its spacing, matches the square-pixel result."""
    from SpinalSAMR1Lib.predictor import Predictor

    image, ref = axial
    squashed, ref_squashed = image[::2], ref[::2]
    pred = Predictor(lite_model)
    pred.set_image(image)
    full = pred.predict(box=box_from_mask(ref)).mask
    pred.set_image(squashed, pixel_spacing=(2.0, 1.0))
    half = pred.predict(box=box_from_mask(ref_squashed)).mask
    assert metrics.dice(half, full[::2]) > 0.9


def test_resize_and_crop_helpers():
    assert resized_shape(512, 512, 256) == (256, 256)
    assert resized_shape(689, 1098, 256) == (161, 256)
    assert resized_shape(20, 512, 256, aspect=2.0) == (20, 256)
    # stretching widens the short side only, up to the factor and never past the input size
    assert resized_shape(1000, 250, 256, max_stretch=2.0) == (256, 128)
    assert resized_shape(250, 1000, 256, max_stretch=3.0) == (192, 256)
    assert resized_shape(689, 1098, 256, max_stretch=4.0) == (256, 256)
    assert resized_shape(512, 512, 256, max_stretch=3.0) == (256, 256)
    x0, y0, x1, y1 = crop_rect(np.array([100, 100, 199, 149]), (300, 400), margin=0.1)
    assert x0 <= 100 and y0 <= 100 and x1 >= 200 and y1 >= 150 and x1 <= 400 and y1 <= 300


def test_usage_errors(lite_model):
    from SpinalSAMR1Lib.predictor import Predictor

    pred = Predictor(lite_model)
    with pytest.raises(RuntimeError, match="set_image"):
        pred.predict(box=np.array([0, 0, 5, 5]))
    pred.set_image(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="point or a box"):
        pred.predict()
    with pytest.raises(ValueError, match="2D image"):
        pred.set_image(np.zeros((4, 4, 4)))


@pytest.mark.slow
def test_features_at_samples_the_embedding_cell_under_a_pixel(lite_predictor, axial):
    image, _ = axial  # 512 x 512: the whole slice is encoded at 256 x 256, a 64 x 64 embedding
    lite_predictor.set_image(image)
    h, w = image.shape
    enc = lite_predictor._encoded((0, 0, w, h))
    grid = enc.embedding[0].numpy()
    cell = w / grid.shape[-1]  # 8 image pixels per embedding cell
    for gy, gx in ((10, 20), (40, 33), (0, 63)):
        # Pixel centres at integers: cell (gy, gx) is centred on pixel (gx + 0.5) * cell - 0.5.
        xy = np.array([[(gx + 0.5) * cell - 0.5, (gy + 0.5) * cell - 0.5]])
        np.testing.assert_allclose(lite_predictor.features_at(xy)[0], grid[:, gy, gx], rtol=1e-4, atol=1e-5)
    between = lite_predictor.features_at(np.array([[(20 + 1.0) * cell - 0.5, (10 + 0.5) * cell - 0.5]]))[0]
    np.testing.assert_allclose(between, 0.5 * (grid[:, 10, 20] + grid[:, 10, 21]), rtol=1e-4, atol=1e-5)
