"""Test doubles of the Predictor that answer with a phantom's true labels (no model): they test the 3D
walks' logic apart from any model's quality."""

from __future__ import annotations

import numpy as np

from SpinalSAMR1Lib import geometry as geo


class VertebraOracle:
    """Answers a click with the true section of the vertebra under the positive point, and every later
    box on other slices with that vertebra's section inside the box; features say "bone" or not."""

    def __init__(self, phantom):
        self.phantom, self.label, self.calls = phantom, 0, 0

    def set_image(self, image, key=None, pixel_spacing=(1.0, 1.0)):
        if key is not None:
            self.view, self.index = key[1], key[2]
            return
        # No key (the CLI gives none): find the slice whose pixels these are.
        for view in ("sagittal", "axial", "coronal"):
            frame = geo.view_frame(self.phantom.ijk_to_ras, self.phantom.labels.shape, view)
            if frame.slice_shape != image.shape:
                continue
            for index in range(frame.num_slices):
                ct = geo.extract_slice(self.phantom.image, frame, index).astype(float)
                if np.corrcoef(ct.ravel(), np.asarray(image, float).ravel())[0, 1] > 0.9999:
                    self.view, self.index = view, index
                    return
        raise AssertionError("not a slice of the phantom")

    def _section(self):
        frame = geo.view_frame(self.phantom.ijk_to_ras, self.phantom.labels.shape, self.view)
        return frame, geo.extract_slice(self.phantom.labels, frame, self.index)

    def predict(self, points_xy=None, labels=None, box=None, mask_logits=None, multimask=None):
        from SpinalSAMR1Lib.predictor import Prediction

        self.calls += 1
        _, section = self._section()
        if points_xy is not None:
            x, y = np.rint(np.asarray(points_xy)[np.asarray(labels) == 1][0]).astype(int)
            self.label = int(section[y, x])
        mask = (section == self.label) & (self.label > 0)
        if box is not None:
            inside = np.zeros_like(mask)
            x0, y0, x1, y1 = np.round(box).astype(int)
            inside[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = True
            mask &= inside
        return Prediction(mask, 1.0, np.where(mask, 10.0, -10.0).astype(np.float32))

    def features_at(self, points_xy):
        _, section = self._section()
        x, y = np.rint(np.asarray(points_xy)).astype(int).T
        bone = (section[y, x] > 0).astype(float)
        return np.stack([bone, 1 - bone], 1)
