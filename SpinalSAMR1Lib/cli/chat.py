"""``spinalsam-r1 chat``: turn chat messages into validated actions and print them as JSON.

One message from the arguments, or an interactive loop over standard input (one message per
line, until end of input or "exit"). ``--llm`` asks the OpenAI-compatible backend (settings from
SPINALSAM_LLM_* environment variables or the options below) and reports on stderr which backend
answered and how long it took.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from ..errors import UserError

_EXIT_WORDS = frozenset({"exit", "quit", ":q", "退出", "再见"})


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``chat`` sub-command."""
    p = subparsers.add_parser(
        "chat",
        help="turn a chat message (English/中文) into actions, printed as JSON",
        description="Parse chat messages into the contract's actions and print them as JSON, one line per "
        "message. Without TEXT (or with -i) read messages from standard input until EOF or 'exit'. "
        "The message 'help' (帮助) lists the commands on stderr, in the chat panel's words.",
    )
    p.add_argument("text", nargs="*", help="the message (omit for interactive mode)")
    p.add_argument("-i", "--interactive", action="store_true", help="read messages from standard input")
    p.add_argument(
        "--explain", action="store_true", help="also print what each action would do (headless executor)"
    )
    add_llm_arguments(p)
    p.set_defaults(func=run)
    return p


def add_llm_arguments(p: argparse.ArgumentParser) -> None:
    """--llm and the LLM settings (each defaults to its SPINALSAM_LLM_* environment variable)."""
    g = p.add_argument_group("LLM backend (OpenAI-compatible; the key only from the environment)")
    g.add_argument(
        "--llm", action="store_true", help="ask the LLM; fall back to the offline rules on any error"
    )
    g.add_argument(
        "--base-url", help="API base URL (env SPINALSAM_LLM_BASE_URL; default https://api.deepseek.com)"
    )
    g.add_argument("--model", help="model name (env SPINALSAM_LLM_MODEL; default deepseek-flash)")
    g.add_argument(
        "--timeout", type=float, help="seconds per request (env SPINALSAM_LLM_TIMEOUT; default 10)"
    )
    g.add_argument(
        "--thinking",
        choices=("disabled", "enabled", "omit"),
        help="DeepSeek thinking mode (env SPINALSAM_LLM_THINKING; default disabled, for latency)",
    )
    g.add_argument("--show-reasoning", action="store_true", help="print the model's reasoning to stderr")


def make_parse_function(args: argparse.Namespace) -> Callable[[str], Any]:
    """The offline ``parse`` or a configured ``LLMParser.parse``, from the arguments."""
    if not getattr(args, "llm", False):
        from ..commands import parse

        return parse
    from ..commands.llm import LLMParser, LLMSettings

    if args.timeout is not None and not args.timeout > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    try:
        settings = LLMSettings.from_env(
            base_url=args.base_url, model=args.model, timeout=args.timeout, thinking=args.thinking
        )
    except ValueError as exc:
        raise UserError(f"bad LLM setting: {exc}") from None
    return LLMParser(settings).parse


def run(
    args: argparse.Namespace,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Parse the message(s); print one JSON list of actions per message. Returns the exit code."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    parse_fn = make_parse_function(args)
    if args.text and not args.interactive:
        _answer(" ".join(args.text), parse_fn, args, stdout, stderr)
        return 0
    interactive = stdin.isatty()
    if interactive:
        print("Type a command (English or 中文); 'help' lists them, 'exit' quits.", file=stderr)
    while True:
        if interactive:
            print("> ", end="", file=stderr, flush=True)
        line = stdin.readline()
        if not line:
            return 0
        text = line.strip()
        if text.lower() in _EXIT_WORDS:
            return 0
        if text:
            _answer(text, parse_fn, args, stdout, stderr)


def _answer(
    text: str, parse_fn: Callable[[str], Any], args: argparse.Namespace, stdout: TextIO, stderr: TextIO
) -> None:
    result = parse_fn(text)
    actions = result if isinstance(result, list) else result.actions
    print(json.dumps(actions, ensure_ascii=False), file=stdout, flush=True)
    if not isinstance(result, list):
        note = f" ({result.error})" if result.error else ""
        print(f"backend: {result.backend}, latency: {result.latency_ms:.0f} ms{note}", file=stderr)
        if args.show_reasoning and result.reasoning:
            print(f"reasoning: {result.reasoning.strip()}", file=stderr)
    if args.explain:
        from ..commands.executor import PrintingExecutor, execute_all

        for message in execute_all(PrintingExecutor(), actions):
            print(f"  {message}", file=stderr)
    elif any(action["action"] == "help" for action in actions):
        from ..commands.executor import HELP_TEXT  # the Slicer panel's help, the same text

        print(HELP_TEXT, file=stderr)
