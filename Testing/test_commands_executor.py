"""Executor interface: one method per contract action, validation before dispatch."""

from __future__ import annotations

import inspect

import pytest

from SpinalSAMR1Lib.commands import ACTIONS, parse
from SpinalSAMR1Lib.commands.executor import (
    EXAMPLES,
    HELP_TEXT,
    UNKNOWN_TEXT,
    ActionExecutor,
    PrintingExecutor,
    dispatch,
    execute_all,
)
from SpinalSAMR1Lib.commands.schema import SchemaError


class Recorder(PrintingExecutor):
    """Records every call (name, kwargs) and can be told to fail on one action."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.fail_on = fail_on

    def __getattribute__(self, name: str):
        attr = object.__getattribute__(self, name)
        if name in ACTIONS:

            def wrapper(**kwargs):
                self.calls.append((name, kwargs))
                if name == self.fail_on:
                    raise RuntimeError("no volume loaded")
                return attr(**kwargs)

            return wrapper
        return attr


def test_one_method_per_action_with_slot_keywords():
    for name, slots in ACTIONS.items():
        method = getattr(ActionExecutor, name)
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        assert params == [slot.name for slot in slots], name
    assert set(EXAMPLES) | {"unknown"} == set(ACTIONS)


def test_abstract_base_requires_every_action_but_help_and_unknown():
    abstract = ActionExecutor.__abstractmethods__
    assert abstract == set(ACTIONS) - {"help", "unknown"}
    with pytest.raises(TypeError):
        ActionExecutor()  # type: ignore[abstract]


def test_dispatch_calls_the_matching_method_with_canonical_slots():
    executor = Recorder()
    message = dispatch(executor, {"action": "add_points", "level": "l3", "count": 2})
    assert executor.calls == [("add_points", {"count": 2, "polarity": "positive", "level": "L3"})]
    assert message == "Would add 2 positive points on L3."


@pytest.mark.parametrize(
    "bad",
    [
        {"action": "delete_files", "path": "/"},
        {"action": "clear", "target": "disk"},
        {"action": "clear", "target": "all", "extra": 1},
        {"action": "__init__"},
        {"action": "dispatch"},
        {"action": "set_view"},
        "undo",
    ],
)
def test_dispatch_rejects_invalid_actions_before_calling_anything(bad):
    executor = Recorder()
    with pytest.raises(SchemaError):
        dispatch(executor, bad)  # type: ignore[arg-type]
    assert executor.calls == []


def test_execute_all_runs_in_order():
    executor = Recorder()
    messages = execute_all(executor, parse("clear points and add two points, then segment L1 to L3 in 3d"))
    assert [name for name, _ in executor.calls] == ["clear", "add_points", "segment"]
    assert messages == [
        "Would clear the points.",
        "Would add 2 positive points.",
        "Would segment L1, L2, L3 (auto prompt, volume).",
    ]


def test_execute_all_validates_everything_first():
    executor = Recorder()
    with pytest.raises(SchemaError):
        execute_all(executor, [{"action": "undo"}, {"action": "format_disk"}])
    assert executor.calls == []


def test_execute_all_stops_after_a_failing_action():
    executor = Recorder(fail_on="load_volume")
    messages = execute_all(executor, parse("open /data/a.nii.gz then segment then save"))
    assert [name for name, _ in executor.calls] == ["load_volume"]
    assert messages == ["load_volume failed: no volume loaded", "Skipped 2 later action(s)."]


def test_help_and_unknown_replies_have_bilingual_examples():
    executor = PrintingExecutor()
    assert dispatch(executor, {"action": "help"}) == HELP_TEXT
    assert dispatch(executor, {"action": "unknown"}) == UNKNOWN_TEXT
    assert "segment" in HELP_TEXT and "帮助" in HELP_TEXT and "撤销" in HELP_TEXT
    assert "help" in UNKNOWN_TEXT and "帮助" in UNKNOWN_TEXT
    for english, chinese in EXAMPLES.values():
        assert english and any("\u4e00" <= ch <= "\u9fff" for ch in chinese)


def test_examples_parse_to_their_action():
    # The examples shown to users must themselves work.
    for name, (english, chinese) in EXAMPLES.items():
        for text in [*english.split("  /  "), chinese]:
            assert parse(text)[0]["action"] == name, text


def test_printing_executor_describes_every_action():
    executor = PrintingExecutor()
    samples = parse(
        "open image, add a negative point on L2, draw a box on L3, segment the whole volume on sagittal, clear all, "
        "previous slice, coronal view, bone window, check gpu, verify parameters, undo, redo, save to /tmp/s.nii.gz, "
        "show dice"
    )
    messages = execute_all(executor, samples)
    assert len(messages) == len(samples) == 14
    assert all(m.startswith("Would") for m in messages)
