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


# -- the action list: schema.ACTIONS, every executor checked against it ------------------------------
def sample(name: str) -> dict[str, Any]:
    """A valid action of each kind: the schema's defaults, the first allowed value where one is required."""
    from SpinalSAMR1Lib.commands.schema import ACTIONS

    action: dict[str, Any] = {"action": name}
    for slot in ACTIONS[name]:
        if slot.required:
            action[slot.name] = slot.choices[0] if slot.choices else "L4"
    return action


def test_an_executor_without_a_handler_for_an_action_is_refused_when_created():
    from SpinalSAMR1Lib.commands.executor import PrintingExecutor

    with pytest.raises(TypeError, match="no method for action 'undo'"):
        type("NoUndo", (PrintingExecutor,), {"undo": None})
    with pytest.raises(TypeError, match=r"navigate\(direction, count\) should take \(direction, steps\)"):
        type("WrongSlots", (PrintingExecutor,), {"navigate": lambda self, direction, count: ""})


def test_an_action_added_to_the_schema_needs_a_handler_in_every_executor(monkeypatch):
    from SpinalSAMR1Lib.commands import schema
    from SpinalSAMR1Lib.commands.executor import ActionExecutor, PrintingExecutor, check_handlers
    from SpinalSAMR1Lib.slicer_support.executor import SlicerActionExecutor

    for cls in (ActionExecutor, PrintingExecutor, SlicerActionExecutor):
        check_handlers(cls)  # as the schema stands
    monkeypatch.setitem(schema.ACTIONS, "rotate_view", (schema.Slot("degrees", "int", 90, maximum=360),))
    for cls in (ActionExecutor, PrintingExecutor, SlicerActionExecutor):
        with pytest.raises(TypeError, match="no method for action 'rotate_view'"):
            check_handlers(cls)


class RecordingController:
    """Has exactly the members of the Controller protocol, and records each call."""

    def __init__(self) -> None:
        from SpinalSAMR1Lib.slicer_support.executor import Controller

        self.members = {n for n, v in vars(Controller).items() if callable(v) and not n.startswith("_")}
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        if name == "members" or name not in self.members:
            raise AttributeError(f"not in the Controller protocol: {name}")

        def call(*args):
            self.calls.append((name, args))
            if name == "deviceStatus":
                return {"cuda_available": False, "threads": 2, "torch": "2"}
            return f"{name} done"

        return call


def test_every_schema_action_runs_in_slicer_through_the_controller_protocol_only():
    from SpinalSAMR1Lib.commands.executor import HELP_TEXT, execute_all
    from SpinalSAMR1Lib.commands.schema import ACTIONS
    from SpinalSAMR1Lib.slicer_support.executor import SlicerActionExecutor

    controller = RecordingController()
    replies = execute_all(SlicerActionExecutor(controller), [sample(name) for name in ACTIONS])
    assert len(replies) == len(ACTIONS) and not any("failed" in r for r in replies), replies
    assert {name for name, _ in controller.calls} == controller.members  # no protocol method unused
    assert replies[list(ACTIONS).index("help")] == HELP_TEXT
    controller.calls.clear()
    execute_all(
        SlicerActionExecutor(controller), [{"action": "navigate", "direction": "previous", "steps": 3}]
    )
    assert controller.calls == [("navigate", (-3,))]


# -- one runner, one validation: every action checked before any runs --------------------------------
def test_the_slicer_panel_runs_nothing_of_a_list_with_an_invalid_action():
    from SpinalSAMR1Lib.commands.executor import SchemaError, execute_all
    from SpinalSAMR1Lib.slicer_support.executor import SlicerActionExecutor

    controller = RecordingController()
    with pytest.raises(SchemaError, match="format_disk"):
        execute_all(SlicerActionExecutor(controller), [{"action": "undo"}, {"action": "format_disk"}])
    assert controller.calls == []


def test_the_slicer_panel_stops_after_a_failing_action_and_says_what_was_skipped():
    from SpinalSAMR1Lib.commands.executor import execute_all
    from SpinalSAMR1Lib.slicer_support.executor import SlicerActionExecutor

    class NoVolume(RecordingController):
        def setWindow(self, preset):
            raise RuntimeError("no volume selected")

    controller = NoVolume()
    actions = [{"action": "set_window", "preset": "bone"}, {"action": "undo"}, {"action": "redo"}]
    replies = execute_all(SlicerActionExecutor(controller), actions)
    assert replies == ["set_window failed: no volume selected", "Skipped 2 later action(s)."]
    assert controller.calls == []


# -- level names: one definition (schema.LEVEL_LETTER / LEVEL_NUMBER) behind every finder -------------
@pytest.mark.parametrize("name", ["C1", "C7", "T1", "T10", "T12", "L1", "L5", "S1"])
def test_every_level_finder_reads_a_real_level_name(name):
    from SpinalSAMR1Lib.commands import parse
    from SpinalSAMR1Lib.commands.levels import first_level
    from SpinalSAMR1Lib.slicer_support import vertebra_level

    for written in (name, name.lower()):
        assert vertebra_level(f"seg {written}") == name  # the Slicer module's point and ROI labels
        assert first_level(f"add a point on {written}") == name  # the chat's level finder
        assert parse(f"this is {written}") == [{"action": "name_level", "level": name}]


@pytest.mark.parametrize("text", ["segment T10-T12", "segment t10-t12", "report T11~L2 and T10–T12"])
def test_the_privacy_filter_keeps_level_ranges_that_look_like_ids(text):
    from SpinalSAMR1Lib.commands.privacy import mask_private

    assert mask_private(text) == (text, {})  # four digits and a letter, but levels, not an ID
    assert mask_private(text + " of MRN 123456")[1] == {"<id-1>": "123456"}


@pytest.mark.parametrize("lookalike", ["C8", "T13", "L6", "S2", "L0"])
def test_no_level_finder_takes_a_lookalike_for_a_level(lookalike):
    from SpinalSAMR1Lib.commands import parse
    from SpinalSAMR1Lib.commands.levels import first_level
    from SpinalSAMR1Lib.slicer_support import vertebra_level

    assert vertebra_level(f"seg {lookalike}") is None
    assert vertebra_level(f"{lookalike} then L3") == "L3"  # the first real one
    assert first_level(f"add a point on {lookalike}") is None
    assert parse(f"this is {lookalike}")[0]["action"] != "name_level"


def test_the_level_pattern_is_built_from_the_schemas_levels():
    import re

    from SpinalSAMR1Lib.commands.schema import LEVEL_LETTER, LEVEL_NUMBER, LEVELS

    assert all(re.fullmatch(LEVEL_LETTER + LEVEL_NUMBER, name) for name in LEVELS)
    assert LEVEL_LETTER == "[CTLS]"
