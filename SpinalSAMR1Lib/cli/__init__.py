"""The ``spinalsam-r1`` command line: one module per sub-command, each with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import UserError

_COMMANDS = ("demo", "segment", "evaluate", "report", "info", "chat", "train", "train-vertebra", "bench")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of the usage block, starting like every
    other error (``spinalsam-r1: error:``) and naming the sub-command's help."""

    def error(self, message: str):
        root = self.prog.split()[0]
        self.exit(2, f"{root}: error: {message} (see {self.prog} --help)\n")


class _StageParser(_Parser):
    """For the stages of a training recipe: a usage error is the recipe's, raised as a UserError."""

    def error(self, message: str):
        raise UserError(message)


def build_parser(stage: bool = False) -> argparse.ArgumentParser:
    """The command line's parser; ``stage``: usage errors raise UserError instead of exiting."""
    import importlib

    parser = (_StageParser if stage else _Parser)(
        prog="spinalsam-r1",
        description="Prompt-driven spine CT segmentation (SAM + LoRA + CBAM) and chat commands.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of any error (also SPINALSAM_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f".{name.replace('-', '_')}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"cli.{name.replace('-', '_')}"):
                continue  # a sub-command not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse and run. The user's problems (bad input, a missing or unwritable file) end in
    one line on stderr and exit 2; anything else is our bug: exit 1, "internal error", traceback with
    ``--debug``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or bool(os.environ.get("SPINALSAM_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("spinalsam-r1: interrupted", file=sys.stderr)
        return 130
    except (UserError, OSError) as exc:
        if debug:
            raise
        print(f"spinalsam-r1: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug must not look like the user's fault, nor dump a traceback
        if debug:
            raise
        print(
            f"spinalsam-r1: internal error ({type(exc).__name__}: {_one_line(exc)}); "
            "run again with --debug and report it",
            file=sys.stderr,
        )
        return 1


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


if __name__ == "__main__":
    sys.exit(main())
