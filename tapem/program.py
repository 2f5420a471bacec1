"""Programs: re-runnable generator computations that build a tape.

``@tapem`` turns a generator function into a program factory. Calling the factory returns a
:class:`Program`, which remembers the arguments and starts a fresh generator each time it is
run or delegated to with ``yield from``:

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def square_sum(x):
...     X = yield from tm.param(x, name="x")
...     y = yield X * X
...     return (yield tm.ops.sum(y))
>>> program = square_sum(np.array([1.0, 2.0]))
>>> value, grads = tm.value_and_grad(program)
>>> assert np.allclose(grads["x"], [2.0, 4.0]) and float(value) == 5.0
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any, Generic, ParamSpec, TypeAlias, TypeVar

from tapem.handle import Handle
from tapem.requests import Request

__all__ = ["Gen", "Program", "Subprogram", "tapem"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
P = ParamSpec("P")

Gen: TypeAlias = Generator[Request, Handle, T]
"""The type of a program's generator: yields requests, receives handles, returns ``T``."""


class Program(Generic[T_co]):
    """A generator function with its arguments bound; every iteration is a fresh run."""

    __slots__ = ("args", "function", "kwargs")

    def __init__(
        self, function: Callable[..., Generator[Request, Handle, T_co]], *args: Any, **kwargs: Any
    ) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Generator[Request, Handle, T_co]:
        return self.function(*self.args, **self.kwargs)

    @property
    def name(self) -> str:
        return getattr(self.function, "__qualname__", repr(self.function))

    def __repr__(self) -> str:
        return f"<Program {self.name}>"


Subprogram: TypeAlias = Program[T] | Generator[Request, Handle, T]
"""Anything a program can run inline with ``yield from``: a Program or a program's generator."""


def tapem(function: Callable[P, Generator[Request, Handle, T]]) -> Callable[P, Program[T]]:
    """Make ``function`` (a generator function) a factory of re-runnable :class:`Program`\\ s."""

    @functools.wraps(function)
    def factory(*args: P.args, **kwargs: P.kwargs) -> Program[T]:
        return Program(function, *args, **kwargs)

    factory.__tapem_generator__ = function  # type: ignore[attr-defined]
    return factory
