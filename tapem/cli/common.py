"""The pieces every ``python -m tapem`` subcommand uses: :class:`Command`, :class:`UsageError`,
:func:`add_target`, :func:`load_program` and :func:`differentiate`.

A subcommand is one module of :mod:`tapem.cli` exposing ``COMMAND``; ``tapem.cli.COMMANDS``
lists them. Adding one is a new module plus one line in that list.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from tapem.errors import NotAHandle
from tapem.program import Program
from tapem.protocol import Interpreter
from tapem.transforms.gradients import Grads, value_and_grad

__all__ = ["Command", "UsageError", "add_target", "differentiate", "load_program"]


class Command(NamedTuple):
    """A subcommand: its ``name`` and one-line ``help``, ``configure(parser)`` to declare its
    arguments, and ``run(args)`` returning the exit status (0 for success)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A mistake on the command line (a bad path, a missing function): reported as one line,
    with exit status 2, never as a traceback."""


def add_target(parser: argparse.ArgumentParser, help: str) -> None:
    """Declare the ``FILE.py:FUNCTION`` argument that :func:`load_program` reads; ``help`` says
    what the function's program is for."""
    parser.add_argument("target", metavar="FILE.py:FUNCTION", help=help)


def _split(target: str) -> tuple[Path, str]:
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(
            f"expected path/to/file.py:function_name, got {target!r} (a file, a colon, and the "
            "name of a function in it)"
        )
    return Path(path), name


def _import(path: Path) -> Any:
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"_tapem_target_{path.stem}", path.resolve())
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # as `python file.py` would, for the file's own imports
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise UsageError(f"importing {path} failed: {type(error).__name__}: {error}") from error
    finally:
        sys.path.remove(folder)
    return module


def load_program(target: str) -> Program[Any]:
    """The program that ``target`` (``path/to/file.py:function``) builds: the file is
    imported (not run as ``__main__``) and the function is called with no arguments; it must
    return a :class:`~tapem.Program` (a ``@tm.tapem`` function without parameters does).
    Raises :class:`UsageError` with a one-line explanation otherwise.
    """
    path, name = _split(target)
    module = _import(path)
    factory: Any = module
    for part in name.split("."):
        if not hasattr(factory, part):
            raise UsageError(f"{path} has no function {name!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise UsageError(
            f"{name} in {path} is not a function (its type is {type(factory).__name__})"
        )
    signature_of = getattr(factory, "__tapem_generator__", factory)
    try:
        inspect.signature(signature_of).bind()
    except TypeError:
        raise UsageError(
            f"{name}() takes arguments {inspect.signature(signature_of)}; name a function that "
            f"takes none and returns the program, e.g. `def example(): return {name}(...)`"
        ) from None
    except ValueError:  # no signature available (a builtin): just try the call
        pass
    try:
        program = factory()
    except Exception as error:
        raise UsageError(f"calling {name}() failed: {type(error).__name__}: {error}") from error
    if not isinstance(program, Program):
        raise UsageError(
            f"{name}() returned a value of type {type(program).__name__}, not a tapem Program; "
            "decorate the "
            "generator function with @tm.tapem, or return one of its programs"
        )
    return program


def differentiate(program: Program[Any], interpreter: Interpreter) -> tuple[Any, Grads]:
    """:func:`~tapem.value_and_grad` of a target's program, where a program that does not return
    a handle (:class:`~tapem.NotAHandle`) is a :class:`UsageError`. Any other error, a
    ``TypeError`` raised by the program's own code included, propagates unchanged."""
    try:
        return value_and_grad(program, interpreter=interpreter)
    except NotAHandle as error:
        raise UsageError(str(error)) from None
