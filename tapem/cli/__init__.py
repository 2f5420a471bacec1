"""The command line: ``python -m tapem <command> ...``.

Each subcommand is a :class:`~tapem.cli.common.Command` in its own module of this package
(``demo``, ``trace``, ``check``); :data:`COMMANDS` lists them, in the order ``--help`` shows
them. To add one, write the module (a ``COMMAND``) and add it here.

>>> parser = build_parser()
>>> parser.parse_args(["trace", "loss.py:example", "--grads"]).grads
True
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version

from tapem.cli import check, demo, trace
from tapem.cli.common import Command, UsageError

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[Command, ...] = (demo.COMMAND, trace.COMMAND, check.COMMAND)


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The ``python -m tapem`` parser, with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog=_program_name(),
        description="Tools for tapem programs (differentiable losses as generators).",
    )
    parser.add_argument("--version", action="version", version=f"tapem {version('tapem')}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None, commands: Sequence[Command] = COMMANDS) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status.

    A :class:`~tapem.cli.common.UsageError` is printed as ``python -m tapem <command>: error:
    ...`` with status 2, like argparse's own errors.
    """
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except UsageError as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    return status


def _program_name() -> str:
    """How the user ran us: the ``tapem`` console script, or ``python -m tapem``."""
    return "tapem" if os.path.basename(sys.argv[0]) == "tapem" else "python -m tapem"
