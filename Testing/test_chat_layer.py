"""One home per chat concept: the LLM settings, the help text, the action list, the runner, level names.

Slicer-free: the Slicer side (``slicer_support``) is tested with plain dictionaries and a recording
controller, the module itself in test_slicer_module.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from SpinalSAMR1Lib.commands.llm import DEFAULT_BASE_URL, DEFAULT_MODEL, LLMSettings
from SpinalSAMR1Lib.slicer_support import load_llm_settings, store_llm_fields, stored_llm_fields


class DictStore:
    """The two QSettings calls the panel uses, on a dict (QSettings returns "true" from INI files)."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values = dict(values or {})

    def value(self, key: str, defaultValue: Any = None) -> Any:  # noqa: N803 - Qt's name
        return self.values.get(key, defaultValue)

    def setValue(self, key: str, value: Any) -> None:  # noqa: N802 - Qt's name
        self.values[key] = value


# -- LLM settings: one LLMSettings, the panel's fields stored around it ------------------------------
def test_empty_panel_fields_mean_the_environment_then_the_defaults():
    settings = load_llm_settings(DictStore(), environ={})
    assert isinstance(settings, LLMSettings)
    assert (settings.enabled, settings.base_url, settings.model, settings.api_key) == (
        False,
        DEFAULT_BASE_URL,
        DEFAULT_MODEL,
        None,
    )
    env = {"SPINALSAM_LLM_MODEL": "env-model", "DEEPSEEK_API_KEY": "sk-env", "SPINALSAM_LLM_TIMEOUT": "3"}
    settings = load_llm_settings(DictStore(), environ=env)
    assert (settings.model, settings.api_key, settings.timeout) == ("env-model", "sk-env", 3.0)


def test_panel_fields_win_over_the_environment_and_round_trip():
    store = DictStore()
    store_llm_fields(
        store,
        enabled=True,
        base_url="http://127.0.0.1:8080/v1",
        model="",
        api_key="sk-panel",
        show_reasoning=True,
    )
    assert store.values["SpinalSAMR1/LLM/apiKey"] == "sk-panel"
    assert stored_llm_fields(store) == {
        "enabled": True,
        "base_url": "http://127.0.0.1:8080/v1",
        "model": "",  # shown empty in the panel: the default is used
        "api_key": "sk-panel",
        "show_reasoning": True,
    }
    settings = load_llm_settings(
        store, environ={"SPINALSAM_LLM_MODEL": "env-model", "DEEPSEEK_API_KEY": "sk-env"}
    )
    assert settings.enabled and settings.show_reasoning
    assert (settings.base_url, settings.model, settings.api_key) == (
        "http://127.0.0.1:8080/v1",
        "env-model",
        "sk-panel",
    )
    assert "sk-panel" not in repr(settings) and "sk-panel" not in str(settings)
    with pytest.raises(TypeError, match="timeout"):
        store_llm_fields(store, timeout=3)


def test_qsettings_ini_strings_are_read_as_flags():
    store = DictStore({"SpinalSAMR1/LLM/enabled": "true", "SpinalSAMR1/LLM/showReasoning": "false"})
    fields = stored_llm_fields(store)
    assert fields["enabled"] is True and fields["show_reasoning"] is False


# -- help: one bilingual text for the panel and the CLI --------------------------------------------
def test_the_slicer_executor_answers_help_and_unknown_with_the_command_layers_text():
    from SpinalSAMR1Lib.commands.executor import HELP_TEXT, UNKNOWN_TEXT, dispatch
    from SpinalSAMR1Lib.slicer_support.executor import SlicerActionExecutor

    executor = SlicerActionExecutor(controller=None)
    assert dispatch(executor, {"action": "help"}) == HELP_TEXT
    assert dispatch(executor, {"action": "unknown"}) == UNKNOWN_TEXT
    assert "segment the whole volume" in HELP_TEXT and "分割整个体积" in HELP_TEXT
