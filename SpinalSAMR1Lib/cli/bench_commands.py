"""``spinalsam-r1 bench commands``: exact-match accuracy of chat command parsing on a JSONL file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from ..errors import UserError
from .chat import add_llm_arguments, make_parse_function


def register(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``commands`` under ``bench``."""
    p = bench_subparsers.add_parser(
        "commands",
        help="chat command accuracy (exact match, per action and language, latency)",
        description="Run the offline parser (or --llm) on every line of a JSONL file "
        '({"text", "expected", "lang"}) and print exact-match accuracy with Wilson 95%% intervals, '
        "per-action and per-language accuracy, p50/p95 latency and the failures.",
    )
    p.add_argument("--data", type=Path, required=True, help="JSONL file with text / expected / lang")
    p.add_argument(
        "--json", type=Path, dest="json_out", metavar="OUT", help="also write the full report here"
    )
    p.add_argument("--max-failures", type=int, default=50, help="failures to list (default 50)")
    p.add_argument(
        "--min-accuracy", type=float, default=None, help="exit with 1 if exact match is below this (0..1)"
    )
    add_llm_arguments(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Run the benchmark and print the report. Exit code 1 if below --min-accuracy, else 0."""
    from ..commands.bench import format_report, load_cases, report_to_json, run_bench

    stdout = stdout or sys.stdout
    if args.min_accuracy is not None and not 0 <= args.min_accuracy <= 1:
        raise UserError(f"--min-accuracy must be between 0 and 1, got {args.min_accuracy}")
    cases = load_cases(args.data)
    report = run_bench(cases, make_parse_function(args))
    backend = "LLM (offline fallback)" if args.llm else "offline rules"
    print(f"{len(cases)} messages from {args.data}, {backend}", file=stdout)
    print(format_report(report, max_failures=max(0, args.max_failures)), file=stdout)
    if args.json_out is not None:
        try:
            args.json_out.write_text(
                json.dumps(report_to_json(report), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
        except OSError as exc:
            raise UserError(f"cannot write {args.json_out}: {exc}") from None
    if args.min_accuracy is not None and report.overall.accuracy < args.min_accuracy:
        return 1
    return 0
