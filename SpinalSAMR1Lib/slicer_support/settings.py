"""The chat's LLM settings in the user's Qt settings (``QSettings``), around :class:`LLMSettings`.

The API key lives only there, never in the MRML scene or the parameter node (those are saved with
scenes and shared), and it is never logged or echoed (``LLMSettings`` hides it from repr()).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from ..commands.llm import LLMSettings

PREFIX: Final = "SpinalSAMR1/LLM/"
#: LLMSettings field -> the panel's QSettings key (under PREFIX).
_KEYS: Final = {
    "enabled": "enabled",
    "base_url": "baseUrl",
    "model": "model",
    "api_key": "apiKey",
    "show_reasoning": "showReasoning",
}
_FLAGS: Final = ("enabled", "show_reasoning")


class SettingsStore(Protocol):
    """The part of ``qt.QSettings`` used here."""

    def value(self, key: str, defaultValue: Any = None) -> Any: ...  # noqa: N803 - Qt's name

    def setValue(self, key: str, value: Any) -> None: ...  # noqa: N802 - Qt's name


def stored_llm_fields(store: SettingsStore) -> dict[str, Any]:
    """The panel's fields as the user left them; an empty text means "the default"."""
    return {
        name: _as_bool(store.value(PREFIX + key, False))
        if name in _FLAGS
        else str(store.value(PREFIX + key, "") or "")
        for name, key in _KEYS.items()
    }


def store_llm_fields(store: SettingsStore, **fields: Any) -> None:
    """Keep the panel's fields (the names of :func:`stored_llm_fields`) in the user's settings."""
    unknown = set(fields) - set(_KEYS)
    if unknown:
        raise TypeError(f"not an LLM panel field: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        store.setValue(PREFIX + _KEYS[name], value)


def load_llm_settings(store: SettingsStore, environ: Mapping[str, str] | None = None) -> LLMSettings:
    """The chat's settings: the panel's non-empty fields over the SPINALSAM_LLM_* environment and the
    command layer's defaults (an empty key: SPINALSAM_LLM_API_KEY / DEEPSEEK_API_KEY, if set)."""
    return LLMSettings.from_env(environ, **stored_llm_fields(store))


def _as_bool(value: Any) -> bool:
    # QSettings returns "true"/"false" strings from INI files, booleans from the registry.
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")
