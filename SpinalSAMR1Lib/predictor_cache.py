"""The process's loaded models: one Predictor (model + embedding cache) per model choice, few at a time.

A model choice is a :data:`ModelKey` (name, checkpoint path, adapter path, device): the same name on
another device or with other files is another model. The Python API, the CLI and the Slicer module all
take their predictors from :data:`PREDICTORS`, so a model is loaded once and its embeddings are shared.
"""

from __future__ import annotations

from collections import OrderedDict

ModelKey = tuple[str, str, str, str]  # (name, checkpoint path or "", adapter path or "", device)
MAX_MODELS = 2  # the 2D model and the vertebra model; a third choice unloads the least recently used


def model_key(name: str | None = None, checkpoint: str | None = "", adapter: str | None = "", device="auto"):
    """The :data:`ModelKey` of a choice (None name: the default model)."""
    from .model.names import DEFAULT_MODEL

    return (name or DEFAULT_MODEL, checkpoint or "", adapter or "", device or "auto")


def vertebra_model_key(key: ModelKey) -> ModelKey:
    """The model of the 3D vertebra mode for a choice: the one trained on single vertebrae while the choice
    is the default model without files; any other choice is the user's."""
    from .model.names import DEFAULT_MODEL, DEFAULT_VERTEBRA_MODEL

    if key[0] == DEFAULT_MODEL and not key[1] and not key[2]:
        return (DEFAULT_VERTEBRA_MODEL, *key[1:])
    return key


class PredictorCache:
    """Least-recently-used Predictors by :data:`ModelKey`, at most ``max_models`` in memory."""

    def __init__(self, max_models: int = MAX_MODELS) -> None:
        self.max_models = max_models
        self._items: OrderedDict[ModelKey, object] = OrderedDict()

    def get(self, key: ModelKey):
        """The Predictor of ``key``, loading its model on first use."""
        if key not in self._items:
            from .model import load_model
            from .predictor import Predictor

            name, checkpoint, adapter, device = key
            model = load_model(name, checkpoint=checkpoint or None, adapter=adapter or None, device=device)
            while len(self._items) >= self.max_models:
                self._items.popitem(last=False)
            self._items[key] = Predictor(model)
        self._items.move_to_end(key)
        return self._items[key]

    def clear_embeddings(self) -> None:
        """Forget every cached slice embedding; the models stay loaded."""
        for predictor in self._items.values():
            predictor.clear_cache()

    def __contains__(self, key: ModelKey) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


PREDICTORS = PredictorCache()
