"""Offline chat parser: the shared dev set, building blocks (numbers, levels, paths, typos,
schema), robustness on arbitrary input, and speed."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from SpinalSAMR1Lib.commands import detect_lang, parse
from SpinalSAMR1Lib.commands import lexicon as lx
from SpinalSAMR1Lib.commands.levels import expand_range, find_levels, levels_in
from SpinalSAMR1Lib.commands.numbers import en_words_to_int, to_int, zh_to_int
from SpinalSAMR1Lib.commands.paths import find_paths
from SpinalSAMR1Lib.commands.schema import (
    ACTIONS,
    SchemaError,
    make_action,
    validate_action,
    validate_actions,
)
from SpinalSAMR1Lib.commands.typos import PROTECTED, TypoFixer, _osa_distance

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEV_SET = DATA / "commands_dev.jsonl"


def _dev_cases() -> list[dict]:
    if not DEV_SET.is_file():
        return []
    return [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- the shared development set ----------------------------------------------------------------


@pytest.mark.skipif(not DEV_SET.is_file(), reason=f"dev set not found at {DEV_SET} (shared data absent)")
def test_dev_set_passes_completely():
    cases = _dev_cases()
    failures = [
        (c["text"], parse(c["text"]), c["expected"]) for c in cases if parse(c["text"]) != c["expected"]
    ]
    assert not failures, "\n".join(f"{t!r}: got {g}, expected {e}" for t, g, e in failures)
    assert len(cases) >= 80


@pytest.mark.skipif(not DEV_SET.is_file(), reason=f"dev set not found at {DEV_SET} (shared data absent)")
def test_dev_set_language_labels_follow_the_contract_rule():
    for case in _dev_cases():
        assert detect_lang(case["text"]) == case["lang"], case["text"]


# --- output shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "segment L1 to L3 on the sagittal view",
        "add 2 negative points on L3",
        "清空后添加一个点",
        "hello",
        "save",
    ],
)
def test_output_is_canonical_key_order_and_all_slots(text):
    for action in parse(text):
        slots = [slot.name for slot in ACTIONS[action["action"]]]
        assert list(action) == ["action", *slots]
        assert validate_action(action) == action


def test_levels_belong_to_their_own_action():
    add, seg = parse("add a point on L5 then generate point mask")
    assert add["level"] == "L5" and seg["levels"] == []


def test_3d_means_volume_inside_segment_but_a_view_on_its_own():
    assert parse("segment in 3D") == [make_action("segment", scope="volume")]
    assert parse("三维视图") == [make_action("set_view", view="3d")]


# --- numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("三", 3),
        ("两", 2),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十五", 25),
        ("一百零五", 105),
        ("俩", 2),
        ("7", 7),
    ],
)
def test_chinese_numbers(text, value):
    assert zh_to_int(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("three", 3),
        ("twelve", 12),
        ("twenty", 20),
        ("twenty two", 22),
        ("twenty-two", 22),
        ("one hundred", 100),
    ],
)
def test_english_numbers(text, value):
    assert en_words_to_int(text) == value


def test_number_words_that_are_not_numbers():
    assert zh_to_int("下") is None and en_words_to_int("points") is None and to_int("") is None
    assert to_int("a") == 1 and to_int("couple") == 2


@pytest.mark.parametrize(
    ("text", "count"), [("add 十二个 points", 12), ("添加两点", 2), ("add 20 points", 20)]
)
def test_counts_in_messages(text, count):
    assert parse(text)[0]["count"] == count


def test_counts_and_steps_are_clamped_to_the_schema():
    assert parse("add 5000 points")[0]["count"] == 100
    assert parse("next 99999 slices")[0]["steps"] == 1000 or parse("next 99999 slices") == [
        {"action": "unknown"}
    ]


# --- levels --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("L3", ["L3"]),
        ("l-3", ["L3"]),
        ("T12-L2", ["T12", "L1", "L2"]),
        ("L4 to S1", ["L4", "L5", "S1"]),
        ("C7 through T2", ["C7", "T1", "T2"]),
        ("L1-3", ["L1", "L2", "L3"]),
        ("L3-L1", ["L1", "L2", "L3"]),
        ("L1到L3", ["L1", "L2", "L3"]),
        ("第三腰椎", ["L3"]),
        ("腰3", ["L3"]),
        ("胸十二", ["T12"]),
        ("腰1到腰3", ["L1", "L2", "L3"]),
        ("第一到第三腰椎", ["L1", "L2", "L3"]),
        ("the third lumbar vertebra", ["L3"]),
        ("lumbar 1 to 3", ["L1", "L2", "L3"]),
        ("lumbar", ["L1", "L2", "L3", "L4", "L5"]),
        ("颈椎", ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]),
        ("sacrum", ["S1"]),
        ("腰椎L3", ["L3"]),
        ("L6 T13 S2 C8", []),
        ("it's 1 slice", []),
    ],
)
def test_levels(text, levels):
    assert levels_in(text) == levels


def test_expand_range_crosses_regions_in_spine_order():
    assert expand_range("T11", "L1") == ("T11", "T12", "L1")
    assert expand_range("S1", "L5") == ("L5", "S1")


def test_level_mentions_are_in_reading_order():
    assert [m.levels for m in find_levels("L5 then T3")] == [("L5",), ("T3",)]


# --- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("load the CT /data/a.nii.gz", "/data/a.nii.gz"),
        (r"load C:\scans\case02.nii.gz", r"C:\scans\case02.nii.gz"),
        (r"load C:\My Scans\case 1.nii.gz", r"C:\My Scans\case 1.nii.gz"),
        ("save to /tmp/My Documents", "/tmp/My Documents"),
        ("save to /tmp/my seg.nii.gz then show the dice", "/tmp/my seg.nii.gz"),
        ('open "/data/my scans/a.nii.gz"', "/data/my scans/a.nii.gz"),
        ("open '/data/a b.nii'", "/data/a b.nii"),
        ("save as seg.nii.gz.", "seg.nii.gz"),
        ("保存到/tmp/a.nii.gz然后退出", "/tmp/a.nii.gz"),
        ("open “/data/我的 扫描/a.nii.gz”", "/data/我的 扫描/a.nii.gz"),
        (r"\\server\share\a.nii", r"\\server\share\a.nii"),
        ("save to D:/out/", "D:/out/"),
        ("load ~/x/ct.nrrd, then segment", "~/x/ct.nrrd"),
    ],
)
def test_paths_are_kept_verbatim(text, path):
    assert [p.path for p in find_paths(text)] == [path]


@pytest.mark.parametrize("text", ["segment L1/L2", "and/or", "it's fine", "score 0.91", "w/ box"])
def test_non_paths(text):
    assert find_paths(text) == []


def test_path_case_and_backslashes_survive_the_whole_parser():
    path = r"E:\Data\CT Scans\Patient_A\ct.NII.GZ"
    assert parse(f"open {path}") == [make_action("load_volume", path=path)]


# --- typos ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "word"),
    [("segemnt", "segment"), ("pionts", "points"), ("cleer", "clear"), ("swich", "switch"), ("genrate", "generate"),
     ("msk", "mask"), ("loda", "load"), ("sagital", "sagital"), ("dcie", "dice")],
)  # fmt: skip
def test_typo_fixer_corrects_towards_keywords(typo, word):
    assert TypoFixer(lx.vocabulary()).correct(typo) == word


@pytest.mark.parametrize(
    "word", ["done", "mark", "text", "task", "print", "hello", "weather", "saved", "joke"]
)
def test_typo_fixer_leaves_real_words_alone(word):
    assert TypoFixer(lx.vocabulary()).correct(word) == word


def test_protected_words_and_fallback_distance():
    assert "done" in PROTECTED
    assert _osa_distance("segemnt", "segment") == 1
    assert _osa_distance("abc", "abc") == 0 and _osa_distance("", "abc") == 3


def test_chinese_keyword_lists_hold_no_latin_words():
    # Latin words need the English list's word boundaries ("iou" inside "previous").
    assert parse("previous slice") == [make_action("navigate", direction="previous")]


# --- schema --------------------------------------------------------------------------------------


def test_schema_fills_defaults_and_orders_keys():
    action = validate_action({"levels": ["l3", "L1"], "action": "segment", "view": "Sagittal"})
    assert list(action) == ["action", "prompt", "scope", "view", "levels"]
    assert action == {
        "action": "segment",
        "prompt": "auto",
        "scope": "slice",
        "view": "sagittal",
        "levels": ["L1", "L3"],
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"action": "delete_files", "path": "/"},
        {"action": "clear", "target": "all", "command": "rm -rf /"},
        {"action": "add_points", "count": True},
        {"action": "add_points", "count": 0},
        {"action": "add_points", "count": 2.5},
        {"action": "navigate", "steps": "2"},
        {"action": "set_view"},
        {"action": "set_view", "view": "oblique"},
        {"action": "segment", "view": "3d"},
        {"action": "segment", "levels": ["L6"]},
        {"action": "add_box", "level": ["L1"]},
        {"action": "save", "path": ""},
        {"action": "save", "path": "a\nb"},
        ["not", "a", "dict"],
        {"no_action": 1},
    ],
)
def test_schema_rejects(bad):
    with pytest.raises(SchemaError):
        validate_action(bad)


def test_validate_actions_forms():
    assert validate_actions({"actions": [{"action": "undo"}]}) == [{"action": "undo"}]
    assert validate_actions([{"action": "redo"}]) == [{"action": "redo"}]
    assert validate_actions({"actions": []}) == []
    for bad in (
        {"actions": [], "note": "x"},
        {"acts": []},
        "undo",
        {"actions": {"action": "undo"}},
        [{"action": "undo"}] * 21,
    ):
        with pytest.raises(SchemaError):
            validate_actions(bad)


def test_make_action_is_validating():
    assert make_action("navigate") == {"action": "navigate", "direction": "next", "steps": 1}
    with pytest.raises(SchemaError):
        make_action("navigate", direction="sideways")


# --- robustness and speed ------------------------------------------------------------------------


def _random_text(rng: random.Random) -> str:
    alphabet = (
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t\n\r\x00\x01\x1b\x7f"
        ",.;:!?/\\'\"()[]{}<>-_=+*&^%$#@~`|添加删除分割保存下上一二三两十点框腰椎第到和然后再ＬＳＴＣ１２３"
        "\u200b\u202e\ufeff\ud7ff\ue000\uf8ff\U0001f600"
    )
    words = [
        "add",
        "segment",
        "L3",
        "T12-L2",
        "clear",
        "/tmp/a.nii.gz",
        "C:\\x",
        "then",
        "and",
        "3d",
        "two",
        "腰3",
    ]
    parts = []
    for _ in range(rng.randint(0, 12)):
        if rng.random() < 0.5:
            parts.append(rng.choice(words))
        else:
            parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 15))))
    return " ".join(parts)


@pytest.mark.slow
def test_never_raises_and_always_returns_valid_actions_on_random_input():
    rng = random.Random(20261122)
    for _ in range(3000):
        text = _random_text(rng)
        result = parse(text)
        assert isinstance(result, list) and result, repr(text)
        assert validate_actions(result) == result, repr(text)


@pytest.mark.parametrize(
    "text",
    ["", " ", "\x00" * 100, "\ud800", "a" * 1_000_000, "添加" * 500_000, "segment L3 and " * 130, "🦴" * 1000, "\\" * 3000,
     "/" * 3000, "C:\\" * 700, '"' * 1999, "L1-" * 600, None, 42, b"bytes"],
)  # fmt: skip
def test_never_raises_on_edge_input(text):
    result = parse(text)  # type: ignore[arg-type]
    assert isinstance(result, list) and validate_actions(result) == result


def test_long_input_is_unknown_and_fast():
    start = time.perf_counter()
    assert parse("segment L3 " * 200_000) == [{"action": "unknown"}]
    assert time.perf_counter() - start < 0.1


def test_latency_p95_under_a_millisecond_budget():
    texts = [
        "add 2 negative points on L3", "segment L1 to L3 on the sagittal view", "清空后添加一个点",
        "load C:\\My Scans\\case 1.nii.gz", "what is the next step?", "在冠状位分割第三腰椎然后保存到 /tmp/x.nii.gz",
        "segemnt the lumber spine in 3d", "switch to sagittal, bone window, next 3 slices",
    ] * 25  # fmt: skip
    for text in texts[:8]:
        parse(text)  # warm caches
    times = []
    for text in texts:
        start = time.perf_counter()
        parse(text)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[int(len(times) * 0.95)]
    assert p95 < 10.0, f"p95 {p95:.2f} ms"  # contract budget; typically ~0.2 ms


def test_worst_case_message_stays_fast():
    text = ("segment L3 and add 2 points, then " * 60)[:2000]
    start = time.perf_counter()
    parse(text)
    assert time.perf_counter() - start < 0.5
