"""Accuracy benchmark for chat command parsing (offline rules or the LLM backend).

Input is JSON Lines, one message per line: ``{"text": ..., "expected": [actions...], "lang": "en"|"zh"}``
(``lang`` optional; it is derived from the text when missing). A message is correct only when the
whole returned list equals the expected list (the contract's exact-match scoring).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .normalize import detect_lang
from .schema import SchemaError, validate_actions


@dataclass(frozen=True)
class Case:
    """One benchmark message with its expected canonical actions."""

    text: str
    expected: list[dict[str, Any]]
    lang: str
    line: int


@dataclass
class Outcome:
    """What a parser returned for one case."""

    case: Case
    got: list[dict[str, Any]]
    latency_ms: float
    backend: str = "offline"
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Exact match of the whole action list."""
        return self.got == self.case.expected


@dataclass
class Score:
    """correct / total with a Wilson 95% interval."""

    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float:
        """Fraction correct (0 for an empty group)."""
        return self.correct / self.total if self.total else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        """Wilson score interval, 95%."""
        return wilson_interval(self.correct, self.total)

    def add(self, ok: bool) -> None:
        """Count one message."""
        self.total += 1
        self.correct += int(ok)


@dataclass
class BenchReport:
    """All outcomes and the derived numbers."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def overall(self) -> Score:
        """Exact-match accuracy over all messages."""
        score = Score()
        for o in self.outcomes:
            score.add(o.ok)
        return score

    def by_lang(self) -> dict[str, Score]:
        """Exact-match accuracy per language ("en", "zh")."""
        scores: dict[str, Score] = {}
        for o in self.outcomes:
            scores.setdefault(o.case.lang, Score()).add(o.ok)
        return dict(sorted(scores.items()))

    def by_action(self) -> dict[str, Score]:
        """Exact-match accuracy of the messages whose expected list contains each action."""
        scores: dict[str, Score] = {}
        for o in self.outcomes:
            for name in dict.fromkeys(a["action"] for a in o.case.expected):
                scores.setdefault(name, Score()).add(o.ok)
        return dict(sorted(scores.items()))

    def backends(self) -> dict[str, int]:
        """How many messages each backend answered ("llm" / "offline")."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.backend] = counts.get(o.backend, 0) + 1
        return counts

    def latency(self) -> dict[str, float]:
        """p50 / p95 / max latency per message in milliseconds."""
        values = sorted(o.latency_ms for o in self.outcomes)
        return {
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "max": values[-1] if values else 0.0,
        }

    def failures(self) -> list[Outcome]:
        """Outcomes that did not match exactly, in file order."""
        return [o for o in self.outcomes if not o.ok]


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (better than the normal one near 0 or 1)."""
    if total == 0:
        return 0.0, 0.0
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for an empty list)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def load_cases(path: str | Path) -> list[Case]:
    """Read a JSONL benchmark file; any problem is a UserError naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"benchmark file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read benchmark file {path}: {exc}") from None
    cases = [_case(path, number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if not cases:
        raise UserError(f"benchmark file has no cases: {path}")
    return cases


def _case(path: Path, number: int, line: str) -> Case:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise UserError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str) or "expected" not in record:
        raise UserError(f'{where}: each line needs "text" (string) and "expected" (list of actions)')
    try:
        # Compared in canonical form (defaults filled, levels in spine order), like parser output.
        expected = validate_actions(record["expected"])
    except SchemaError as exc:
        raise UserError(f"{where}: expected actions are invalid: {exc}") from None
    lang = record.get("lang") or detect_lang(record["text"])
    if lang not in ("en", "zh"):
        raise UserError(f'{where}: lang must be "en" or "zh", got {lang!r}')
    return Case(record["text"], expected, lang, number)


def run_bench(cases: list[Case], parse_fn: Callable[[str], Any]) -> BenchReport:
    """Run ``parse_fn`` on every case. It returns a list of actions, or an object with
    ``.actions`` / ``.backend`` / ``.error`` (the LLM result)."""
    report = BenchReport()
    for case in cases:
        start = time.perf_counter()
        result = parse_fn(case.text)
        latency = (time.perf_counter() - start) * 1000.0
        if isinstance(result, list):
            report.outcomes.append(Outcome(case, result, latency))
        else:
            report.outcomes.append(Outcome(case, result.actions, latency, result.backend, result.error))
    return report


def format_report(report: BenchReport, max_failures: int = 50) -> str:
    """Human-readable summary: overall, per language, per action, latency, failures."""
    lines = [f"exact match: {_fmt(report.overall)}"]
    lines += [f"  {lang}: {_fmt(score)}" for lang, score in report.by_lang().items()]
    lat = report.latency()
    lines.append(f"latency: p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms, max {lat['max']:.2f} ms")
    backends = report.backends()
    if set(backends) != {"offline"}:
        lines.append("answered by: " + ", ".join(f"{k} {v}" for k, v in sorted(backends.items())))
    lines.append("per action (messages containing it):")
    lines += [f"  {name:<14} {_fmt(score)}" for name, score in report.by_action().items()]
    failures = report.failures()
    lines.append(f"failures: {len(failures)}")
    for o in failures[:max_failures]:
        lines.append(f"  line {o.case.line} [{o.case.lang}] {o.case.text!r}")
        lines.append(f"    expected {json.dumps(o.case.expected, ensure_ascii=False)}")
        lines.append(
            f"    got      {json.dumps(o.got, ensure_ascii=False)}" + (f"  ({o.error})" if o.error else "")
        )
    if len(failures) > max_failures:
        lines.append(f"  ... and {len(failures) - max_failures} more (see --json)")
    return "\n".join(lines)


def report_to_json(report: BenchReport) -> dict[str, Any]:
    """Machine-readable report (for --json)."""

    def score(s: Score) -> dict[str, Any]:
        lo, hi = s.ci95
        return {"correct": s.correct, "total": s.total, "accuracy": s.accuracy, "ci95": [lo, hi]}

    return {
        "overall": score(report.overall),
        "by_lang": {k: score(v) for k, v in report.by_lang().items()},
        "by_action": {k: score(v) for k, v in report.by_action().items()},
        "latency_ms": report.latency(),
        "backends": report.backends(),
        "failures": [
            {
                "line": o.case.line,
                "text": o.case.text,
                "lang": o.case.lang,
                "expected": o.case.expected,
                "got": o.got,
                "backend": o.backend,
                "error": o.error,
            }
            for o in report.failures()
        ],
    }


def _fmt(score: Score) -> str:
    lo, hi = score.ci95
    return f"{score.correct}/{score.total} = {score.accuracy:.1%} (95% CI {lo:.1%}-{hi:.1%})"
