"""Chat panel helpers: help text, reasoning stripping and the LLM settings (kept in Qt settings).

The API key lives only in the user's Qt settings (``QSettings``), never in the MRML scene or the
parameter node (those are saved with scenes and shared), and it is never logged or echoed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

HELP_EXAMPLES: tuple[str, ...] = (
    "add three points",
    "add 2 negative points on L3",
    "draw a box around L2",
    "generate point mask",
    "segment the whole volume",
    "add a point on L3, then: segment L1 to L5 (one named segment per level; no point: automatic)",
    "segment L1 to L3 on the sagittal view",
    "this is L4 (names the others in the spine's order)",
    "show the spine report / 测量椎体高度",
    "clear points",
    "next slice / go back two slices",
    "switch to sagittal",
    "bone window",
    "undo / redo",
    "save the segmentation to /tmp/seg.nii.gz",
    "check GPU status",
    "verify parameter matching",
    "show the dice score",
)

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)


def help_text() -> str:
    """What the assistant can do, with one example per line."""
    return "I can run these (English or Chinese):\n" + "\n".join(f"  - {e}" for e in HELP_EXAMPLES)


def unknown_reply(text: str = "") -> str:
    """The answer to a message that asks for nothing the tool can do."""
    head = "Sorry, I did not find an action in that." if text.strip() else "Type a command."
    examples = ", ".join(f'"{e}"' for e in HELP_EXAMPLES[:6])
    return f'{head} Try for example {examples}. Type "help" for the full list.'


def strip_reasoning(text: str, show: bool = False) -> str:
    """Remove a reasoning model's <think>...</think> block unless ``show`` (then it is kept, marked)."""
    if show:
        return _THINK.sub(
            lambda m: "[reasoning] " + m.group(0)[7:].replace("</think>", "").strip() + "\n", text
        )
    return _THINK.sub("", text).strip()


class SettingsStore(Protocol):
    """The part of ``qt.QSettings`` used here."""

    def value(self, key: str, defaultValue: Any = None) -> Any: ...  # noqa: N803 - Qt's name

    def setValue(self, key: str, value: Any) -> None: ...  # noqa: N802 - Qt's name


def _as_bool(value: Any) -> bool:
    # QSettings returns "true"/"false" strings from INI files, booleans from the registry.
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass
class LLMSettings:
    """The chat's optional LLM backend (OpenAI-compatible API). Offline rules are used when disabled."""

    enabled: bool = False
    base_url: str = ""  # empty: the command layer's default (DeepSeek) or SPINALSAM_LLM_BASE_URL
    model: str = ""  # empty: the command layer's default or SPINALSAM_LLM_MODEL
    api_key: str = ""  # empty: SPINALSAM_LLM_API_KEY / DEEPSEEK_API_KEY from the environment, if set
    show_reasoning: bool = False

    PREFIX = "SpinalSAMR1/LLM/"

    @classmethod
    def load(cls, store: SettingsStore) -> LLMSettings:
        d = cls()
        p = cls.PREFIX
        return cls(
            enabled=_as_bool(store.value(p + "enabled", d.enabled)),
            base_url=str(store.value(p + "baseUrl", d.base_url) or ""),
            model=str(store.value(p + "model", d.model) or ""),
            api_key=str(store.value(p + "apiKey", "") or ""),
            show_reasoning=_as_bool(store.value(p + "showReasoning", d.show_reasoning)),
        )

    def save(self, store: SettingsStore) -> None:
        p = self.PREFIX
        store.setValue(p + "enabled", self.enabled)
        store.setValue(p + "baseUrl", self.base_url)
        store.setValue(p + "model", self.model)
        store.setValue(p + "apiKey", self.api_key)
        store.setValue(p + "showReasoning", self.show_reasoning)

    def usable(self) -> bool:
        """Whether to ask the LLM; without a key it answers with the offline rules and says so."""
        return self.enabled

    def __repr__(self) -> str:  # never print the key, e.g. in a traceback or a log line
        key = "set" if self.api_key else "empty"
        return (
            f"LLMSettings(enabled={self.enabled}, base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key=<{key}>, show_reasoning={self.show_reasoning})"
        )
