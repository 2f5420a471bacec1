"""``python -m tapem trace file.py:function``: run a program under the tracing interpreter and
print its listing (``--dot FILE`` also writes a Graphviz graph)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from returns.result import Failure

from tapem.cli.common import Command, UsageError, add_target, differentiate, load_program
from tapem.errors import TapeError
from tapem.interpreters.eager import Eager
from tapem.interpreters.shape_only import ShapeOnly
from tapem.interpreters.tracing import Tracing
from tapem.protocol import Interpreter
from tapem.transforms.running import run

__all__ = ["COMMAND"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_target(parser, "a function that takes no arguments and returns the program to trace")
    parser.add_argument("--dot", metavar="FILE", type=Path, help="also write Graphviz DOT here")
    parser.add_argument("--values", action="store_true", help="show each node's value")
    parser.add_argument(
        "--grads",
        action="store_true",
        help="run the reverse pass too and show each node's gradient norm "
        "(the program must return a scalar)",
    )
    parser.add_argument(
        "--shape-only",
        action="store_true",
        help="trace shapes and dtypes only, without computing (ShapeOnly)",
    )


def main(args: argparse.Namespace) -> int:
    if args.grads and args.shape_only:
        raise UsageError("--grads needs values: leave out --shape-only")
    program = load_program(args.target)
    inner: Interpreter = ShapeOnly() if args.shape_only else Eager()
    tracer = Tracing(inner, values=args.values)
    error: TapeError | None = None
    value = None
    if args.grads:
        try:
            value, _ = differentiate(program, tracer)
        except TapeError as failure:
            error = failure
    else:
        result = run(program, interpreter=tracer)
        if isinstance(result, Failure):
            error = result.failure()
    grads = args.grads and error is None
    print(tracer.listing(grads=grads))
    if value is not None:
        print(f"# value: {float(value)!r}")
    if args.dot is not None:
        args.dot.write_text(tracer.dot(grads=grads))
        print(f"# wrote {args.dot}", file=sys.stderr)
    if error is not None:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


COMMAND = Command(
    "trace", "print the listing of a program's tape (and its DOT graph)", configure, main
)
