"""``python -m tapem check file.py:function``: run a program under the debugging interpreter
(NaN/Inf in any value or cotangent stops at its op and line), then check its gradients against
finite differences and print a short report."""

from __future__ import annotations

import argparse

from tapem.checks.gradcheck import GradCheckError, check_grads
from tapem.cli.common import Command, add_target, differentiate, load_program
from tapem.errors import TapeError
from tapem.interpreters.debugging import Debugging
from tapem.interpreters.eager import Eager

__all__ = ["COMMAND"]


def configure(parser: argparse.ArgumentParser) -> None:
    add_target(parser, "a function that takes no arguments and returns the loss program to check")
    parser.add_argument(
        "--order", type=int, choices=(1, 2), default=1, help="2 also checks Hessian-vector products"
    )
    parser.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance")
    parser.add_argument("--atol", type=float, default=1e-6, help="absolute tolerance")


def main(args: argparse.Namespace) -> int:
    program = load_program(args.target)
    try:
        value, grads = differentiate(program, Debugging(Eager()))
    except TapeError as error:
        print(f"FAILED: {type(error).__name__}: {error}")
        return 1
    print(f"value {float(value)!r}; no NaN or Inf in any value or cotangent")
    if not grads:
        print("the program declares no trainable param: nothing to differentiate")
        return 0
    try:
        report = check_grads(program, order=args.order, rtol=args.rtol, atol=args.atol)
    except GradCheckError as failure:
        print(failure.report)  # its first line says FAILED
        return 1
    print(report)
    return 0


COMMAND = Command(
    "check", "run a loss under the debugging interpreter and check its gradients", configure, main
)
