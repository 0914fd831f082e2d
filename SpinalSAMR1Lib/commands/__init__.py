"""Natural-language chat commands: one message (English, Chinese or mixed) -> validated actions.

- :func:`parse` is the offline, deterministic rule parser (no network, no model).
- :mod:`.llm` asks an OpenAI-compatible model (DeepSeek by default) and falls back to ``parse``.
- :mod:`.schema` is the single action schema both backends are validated against.
- :mod:`.executor` maps actions to the methods of an :class:`~.executor.ActionExecutor` and runs a
  message's actions (:func:`~.executor.execute_all`, for the CLI and the Slicer panel); its
  ``HELP_TEXT`` is the one help of both.

The contract is ``shared/spec/commands.md`` (action schema v1.1, ``schema.SCHEMA_VERSION``).
"""

from .normalize import detect_lang
from .parser import parse
from .schema import ACTION_NAMES, ACTIONS, LEVELS, SchemaError, validate_action, validate_actions

__all__ = [
    "ACTIONS",
    "ACTION_NAMES",
    "LEVELS",
    "SchemaError",
    "detect_lang",
    "parse",
    "validate_action",
    "validate_actions",
]
