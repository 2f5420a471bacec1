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
from typing import Any, Generic, NoReturn, ParamSpec, TypeAlias, TypeVar

from tapem.errors import NotAHandle
from tapem.handle import Handle
from tapem.requests import Request

__all__ = ["Gen", "Program", "Subprogram", "is_tapem_function", "tapem"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
P = ParamSpec("P")

Gen: TypeAlias = Generator[Request, Handle, T]
"""The type of a program's generator: yields requests, receives handles, returns ``T``."""


class Program(tuple, Generic[T_co]):  # type: ignore[type-arg]
    """A generator function with its arguments bound; every iteration is a fresh run.

    A tuple ``(function, args, kwargs)`` underneath, because programs are made per sample in
    per-sample losses and a tuple is the cheapest immutable record; it compares by identity.
    """

    __slots__ = ()
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __new__(
        cls, function: Callable[..., Generator[Request, Handle, T_co]], *args: Any, **kwargs: Any
    ) -> Program[T_co]:
        return tuple.__new__(cls, (function, args, kwargs))

    @property
    def function(self) -> Callable[..., Generator[Request, Handle, T_co]]:
        """The generator function."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def args(self) -> tuple[Any, ...]:
        """The bound positional arguments."""
        return self[1]  # type: ignore[no-any-return]

    @property
    def kwargs(self) -> dict[str, Any]:
        """The bound keyword arguments."""
        return self[2]  # type: ignore[no-any-return]

    def __iter__(self) -> Generator[Request, Handle, T_co]:
        return self[0](*self[1], **self[2])  # type: ignore[no-any-return]

    @property
    def name(self) -> str:
        return getattr(self.function, "__qualname__", repr(self.function))

    def _not_run(self, *args: Any) -> NoReturn:
        raise NotAHandle(
            f"{self.name} is a program, used here as a value: run it with `yield from` to get "
            f"its handle, e.g. `h = yield from {getattr(self.function, '__name__', 'f')}(...)`"
        )

    # a program is no tuple to its users: arithmetic on it is a missing ``yield from``
    __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = _not_run
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __pow__ = __neg__ = _not_run

    def __repr__(self) -> str:
        return f"<Program {self.name}>"


Subprogram: TypeAlias = Program[T] | Generator[Request, Handle, T]
"""Anything a program can run inline with ``yield from``: a Program or a program's generator."""


def tapem(function: Callable[P, Generator[Request, Handle, T]]) -> Callable[P, Program[T]]:
    """Make ``function`` (a generator function) a factory of re-runnable :class:`Program`\\ s."""

    @functools.wraps(function)
    def factory(*args: P.args, **kwargs: P.kwargs) -> Program[T]:
        return tuple.__new__(Program, (function, args, kwargs))

    factory.__tapem_generator__ = function  # type: ignore[attr-defined]
    return factory


def is_tapem_function(f: object) -> bool:
    """Whether ``f`` is a ``@tapem`` function (a factory of programs), not a program it made,
    a plain generator function or any other callable.

    >>> @tapem
    ... def program(x):
    ...     return (yield from x)
    >>> is_tapem_function(program), is_tapem_function(program(())), is_tapem_function(len)
    (True, False, False)
    """
    return callable(getattr(f, "__tapem_generator__", None))
