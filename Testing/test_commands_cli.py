"""``chat`` and ``bench commands`` sub-commands, through their own argparse registration."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from SpinalSAMR1Lib.cli import bench_commands, chat
from SpinalSAMR1Lib.errors import UserError

DEV_SET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "commands_dev.jsonl"


def build() -> argparse.ArgumentParser:
    """A tiny stand-in for the main CLI: chat + bench commands registered the documented way."""
    parser = argparse.ArgumentParser(prog="spinalsam-r1")
    sub = parser.add_subparsers(dest="command", required=True)
    chat.register(sub)
    bench = sub.add_parser("bench")
    bench_commands.register(bench.add_subparsers(dest="bench", required=True))
    return parser


class FakeStdin(io.StringIO):
    def isatty(self) -> bool:
        return False


def run_chat(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    args = build().parse_args(["chat", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, stdin=FakeStdin(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_chat_prints_actions_as_json():
    code, out, _ = run_chat(["add", "2", "negative", "points", "on", "L3"])
    assert code == 0
    assert json.loads(out) == [{"action": "add_points", "count": 2, "polarity": "negative", "level": "L3"}]


def test_chat_keeps_chinese_readable_and_explains():
    code, out, err = run_chat(["--explain", "打开图片然后切换到轴位"])
    assert code == 0 and json.loads(out) == [
        {"action": "load_volume", "path": None},
        {"action": "set_view", "view": "axial"},
    ]
    assert "Would ask for an image to open." in err and "Would show the axial view." in err


def test_chat_interactive_reads_lines_until_exit():
    code, out, _ = run_chat([], stdin="next slice\n\nundo\nexit\nredo\n")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        [{"action": "navigate", "direction": "next", "steps": 1}],
        [{"action": "undo"}],
    ]
    code, out, _ = run_chat(["-i"], stdin="帮助")  # EOF without newline also ends
    assert code == 0 and json.loads(out) == [{"action": "help"}]


def test_chat_help_prints_the_one_bilingual_help_text_on_stderr():
    from SpinalSAMR1Lib.commands.executor import HELP_TEXT

    code, out, err = run_chat(["帮助"])
    assert code == 0 and json.loads(out) == [{"action": "help"}]
    assert HELP_TEXT in err and "segment the whole volume" in err and "分割整个体积" in err
    _, _, err = run_chat(["undo"])
    assert HELP_TEXT not in err


def test_chat_llm_reports_backend_and_latency_on_stderr(monkeypatch):
    monkeypatch.delenv("SPINALSAM_LLM_API_KEY", raising=False)
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.delenv("SPINALSAM_LLM_BASE_URL", raising=False)
    code, out, err = run_chat(["--llm", "undo"])
    assert code == 0 and json.loads(out) == [{"action": "undo"}]
    assert "backend: offline" in err and "latency:" in err and "no API key" in err


def test_chat_rejects_a_bad_timeout():
    with pytest.raises(UserError, match="--timeout"):
        run_chat(["--llm", "--timeout", "0", "undo"])


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records) + "\n",
        encoding="utf-8",  # whatever the machine's locale
    )
    return path


def run_bench(argv: list[str]) -> tuple[int, str]:
    args = build().parse_args(["bench", "commands", *argv])
    out = io.StringIO()
    return args.func(args, stdout=out), out.getvalue()


def test_bench_prints_accuracy_per_action_language_latency_and_failures(tmp_path):
    data = write_jsonl(
        tmp_path / "b.jsonl",
        [
            {"text": "undo", "expected": [{"action": "undo"}], "lang": "en"},
            {"text": "撤销", "expected": [{"action": "undo"}], "lang": "zh"},
            {"text": "next slice", "expected": [{"action": "redo"}], "lang": "en"},  # a deliberate failure
            {"text": "保存", "expected": [{"action": "save"}]},  # lang and default slots filled in
        ],
    )
    out_json = tmp_path / "report.json"
    code, out = run_bench(["--data", str(data), "--json", str(out_json)])
    assert code == 0
    assert "exact match: 3/4 = 75.0% (95% CI" in out
    assert "en: 1/2" in out and "zh: 2/2" in out
    assert "latency: p50" in out and "p95" in out
    assert "undo" in out and "redo" in out and "failures: 1" in out and "'next slice'" in out
    report = json.loads(out_json.read_text(encoding="utf-8"))
    assert report["overall"]["correct"] == 3 and report["by_lang"]["zh"]["total"] == 2
    lo, hi = report["overall"]["ci95"]
    assert 0.2 < lo < 0.75 < hi < 1.0
    assert report["failures"][0]["got"] == [{"action": "navigate", "direction": "next", "steps": 1}]


def test_bench_min_accuracy_sets_the_exit_code(tmp_path):
    data = write_jsonl(tmp_path / "b.jsonl", [{"text": "undo", "expected": [{"action": "redo"}]}])
    assert run_bench(["--data", str(data), "--min-accuracy", "0.9"])[0] == 1
    assert run_bench(["--data", str(data), "--min-accuracy", "0"])[0] == 0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{not json"], "not valid JSON"),
        ([{"text": "undo"}], 'needs "text"'),
        ([{"text": "undo", "expected": [{"action": "explode"}]}], "expected actions are invalid"),
        ([{"text": "undo", "expected": [{"action": "undo"}], "lang": "fr"}], "lang must be"),
        ([], "no cases"),
    ],
)
def test_bench_bad_input_is_a_one_line_user_error(tmp_path, lines, message):
    data = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(UserError, match=message) as info:
        run_bench(["--data", str(data)])
    assert "\n" not in str(info.value) and "bad.jsonl" in str(info.value)


def test_bench_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        run_bench(["--data", str(tmp_path / "missing.jsonl")])


@pytest.mark.skipif(not DEV_SET.is_file(), reason=f"dev set not found at {DEV_SET} (shared data absent)")
def test_bench_on_the_dev_set_is_perfect():
    code, out = run_bench(["--data", str(DEV_SET), "--min-accuracy", "1.0"])
    assert code == 0 and "exact match: 89/89 = 100.0%" in out and "failures: 0" in out


def test_bench_on_the_v1_1_dev_set_is_perfect():
    code, out = run_bench(
        ["--data", str(DEV_SET.with_name("commands_dev_v1_1.jsonl")), "--min-accuracy", "1.0"]
    )
    assert code == 0 and "exact match: 8/8 = 100.0%" in out and "failures: 0" in out


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call this one L2", [{"action": "name_level", "level": "L2"}]),
        ("no, that is T12.", [{"action": "name_level", "level": "T12"}]),
        ("那个椎体是胸12", [{"action": "name_level", "level": "T12"}]),
        ("is this L4?", [{"action": "unknown"}]),  # a question, not a name
        ("this is great", [{"action": "unknown"}]),
        ("show the vertebral body heights of L2", [{"action": "report", "levels": ["L2"]}]),
        ("check the model weights", [{"action": "verify_model"}]),  # "heights" is not a typo of "weights"
        ("脊柱报告", [{"action": "report", "levels": []}]),
    ],
)
def test_levels_are_named_and_reported_from_chat(text, expected):
    from SpinalSAMR1Lib.commands import parse

    assert parse(text) == expected


def test_main_cli_wires_both_commands(capsys):
    import SpinalSAMR1Lib.cli as main_cli  # the main CLI and all its sub-commands: a broken one fails here

    main_cli.build_parser()
    assert main_cli.main(["chat", "segment", "L1-L3"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["levels"] == ["L1", "L2", "L3"]
    assert main_cli.main(["bench", "commands", "--data", "/definitely/missing.jsonl"]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_parser_bug_answers_unknown_and_is_logged_as_an_error_without_the_text(monkeypatch, caplog):
    from SpinalSAMR1Lib.commands import parser as offline

    def broken(text):
        raise IndexError("a bug in a rule")

    monkeypatch.setattr(offline, "_parse", broken)
    with caplog.at_level("ERROR", logger=offline._log.name):
        assert offline.parse("segment Zhang San's L3") == [{"action": "unknown"}]
    (record,) = caplog.records
    assert record.levelname == "ERROR" and record.exc_info and "Zhang" not in record.getMessage()
