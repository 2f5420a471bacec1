"""The optimizer protocol shared by every tapem optimizer: ``params = opt.step(params, grads)``.

An optimizer maps a dict of named parameter arrays and the gradient dict of
:func:`~tapem.value_and_grad` to a **new** dict of new arrays. It never writes to its inputs. It
keeps per-parameter state (moments, step counts) keyed by parameter name, which
:meth:`Optimizer.state_dict` exports as a flat dict of numbers, strings and arrays (so
``np.savez(file, **opt.state_dict())`` saves it) and :meth:`Optimizer.load_state_dict` restores.

Subclasses implement one pure function, :meth:`Optimizer.update`: the new value and new state of
one parameter from its value, gradient and previous state.
"""

from __future__ import annotations

import ast
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias, TypeVar

import numpy as np

from tapem.errors import InvalidArgument, ShapeMismatch, require_keys

__all__ = ["Key", "Optimizer", "ParamState"]

Key: TypeAlias = str | int
"""A parameter's key: its name (or, for an unnamed ``param``, its node id)."""

K = TypeVar("K", bound=Key)

ParamState: TypeAlias = dict[str, Any]
"""One parameter's state: ``"step"`` (an ``int``) and named arrays (``"exp_avg"``, ...)."""

STATE_PREFIX = "state/"

_NO_STATE: Mapping[str, Any] = MappingProxyType({})
"""The state :meth:`Optimizer.update` gets before a parameter's first step (read-only)."""


def check_range(
    owner: str, name: str, value: float, lo: float, hi: float = math.inf, *, open_hi: bool = False
) -> float:
    """``float(value)``, or :class:`~tapem.InvalidArgument` if it is not in ``[lo, hi]``
    (``[lo, hi)`` with ``open_hi``). NaN is never in range."""
    x = float(value)
    inside = lo <= x < hi if open_hi else lo <= x <= hi
    if not inside:
        bracket = ")" if open_hi else "]"
        raise InvalidArgument(f"{owner}: {name} must be in [{lo}, {hi}{bracket}, got {value!r}")
    return x


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


class Optimizer(ABC):
    """Base class: validates inputs, threads per-parameter state, exports/imports it.

    ``lr`` is the current learning rate (a scheduler may change it between steps);
    ``initial_lr`` is the one the optimizer was built with (schedulers start from it).
    ``hyperparameters`` names the other constructor arguments, in PyTorch's order.
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def __init__(self, lr: float) -> None:
        self._lr = check_range(type(self).__name__, "lr", lr, 0.0)
        self.initial_lr = self._lr
        self._state: dict[Key, ParamState] = {}

    @property
    def lr(self) -> float:
        """The learning rate of the next :meth:`step`."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_range(type(self).__name__, "lr", value, 0.0)

    @property
    def state(self) -> Mapping[Key, Mapping[str, Any]]:
        """Per-parameter state (read-only): a parameter that never had a gradient has none."""
        return MappingProxyType({k: MappingProxyType(s) for k, s in self._state.items()})

    @abstractmethod
    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        """One parameter's new value and new state.

        ``state`` is what the previous call returned for this parameter, or an empty read-only
        mapping before its first step (so ``state.get("exp_avg", 0.0)`` starts a moment at
        zero: a Python float keeps float32 arithmetic float32). Must not write to ``p``, ``g``
        or ``state``; every array in the returned state must be new (the base class makes it
        read-only and keeps it).
        """

    def step(self, params: Mapping[K, np.ndarray], grads: Mapping[Any, Any]) -> dict[K, np.ndarray]:
        """Apply one update: returns a new dict with a new array for every parameter in ``grads``.

        The new arrays are read-only (nothing else holds them, so the next step's ``param``
        leaves record them without copying; ``.copy()`` one to edit it).

        A parameter without a gradient (no entry, or ``None``) is returned as it was (the same
        object) and its state is left alone. A gradient for a key not in ``params`` is an
        :class:`~tapem.InvalidArgument` (it usually means the loss named a ``param`` differently
        from the dict). Gradients must have their parameter's shape; parameters must be
        floating-point arrays. If anything fails, no state changes.
        """
        owner = type(self).__name__
        unknown = [k for k in grads if k not in params]
        if unknown:
            raise InvalidArgument(
                f"{owner}.step: gradients for {unknown!r} but no parameter with that key "
                f"(parameters: {list(params)!r}); use the names given to tm.param(..., name=...)"
            )
        new_params: dict[K, np.ndarray] = {}
        new_state: dict[Key, ParamState] = {}
        for key, value in params.items():
            grad = grads.get(key)
            if grad is None:
                new_params[key] = value
                continue
            p = np.asarray(value)
            if not np.issubdtype(p.dtype, np.floating):
                raise InvalidArgument(
                    f"{owner}.step: parameter {key!r} has dtype {p.dtype}; optimizers update "
                    "floating-point arrays (convert it with .astype(np.float64))"
                )
            g = np.asarray(grad, dtype=p.dtype)
            if g.shape != p.shape:
                raise ShapeMismatch(
                    f"{owner}.step", [p.shape, g.shape], f"gradient of {key!r} vs its parameter"
                )
            new_p, state = self.update(p, g, self._state.get(key, _NO_STATE))
            # np.asarray: arithmetic on 0-d arrays gives numpy scalars; keep arrays throughout
            new_value = np.asarray(new_p, dtype=p.dtype)
            if np.may_share_memory(new_value, p):  # never freeze the caller's own memory
                new_value = new_value.copy()
            # read-only: nothing else holds it, so a tape can record it without copying
            new_params[key] = _readonly(new_value)
            new_state[key] = {
                k: _readonly(np.asarray(v)) if isinstance(v, np.ndarray | np.generic) else v
                for k, v in state.items()
            }
        self._state.update(new_state)
        return new_params

    # ---- state_dict ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """A flat dict: ``"optimizer"`` (the class name), ``"lr"``, ``"initial_lr"``, each
        hyper-parameter by name, and ``"state/<field>/<repr(key)>"`` for each parameter's state.

        Values are numbers, strings, tuples and (read-only) arrays, so ``np.savez(f, **sd)``
        saves it and ``dict(np.load(f))`` gives back a dict :meth:`load_state_dict` accepts.

        >>> import io
        >>> from tapem.optim import SGD
        >>> opt = SGD(lr=0.1, momentum=0.9)
        >>> _ = opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
        >>> sorted(opt.state_dict())  # doctest: +NORMALIZE_WHITESPACE
        ['dampening', 'initial_lr', 'lr', 'momentum', 'nesterov', 'optimizer',
         "state/momentum_buffer/'w'", 'weight_decay']
        >>> buffer = io.BytesIO()
        >>> np.savez(buffer, **opt.state_dict())
        >>> _ = buffer.seek(0)
        >>> resumed = SGD()
        >>> resumed.load_state_dict(dict(np.load(buffer)))
        >>> assert resumed.momentum == 0.9
        >>> assert resumed.state["w"]["momentum_buffer"].tolist() == [1.0, 1.0]
        """
        out: dict[str, Any] = {
            "optimizer": type(self).__name__,
            "lr": self._lr,
            "initial_lr": self.initial_lr,
        }
        for name in self.hyperparameters:
            out[name] = getattr(self, name)
        for key, state in self._state.items():
            for field, value in state.items():
                out[f"{STATE_PREFIX}{field}/{key!r}"] = value
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` exported (also after a round trip through ``.npz``:
        0-d arrays become numbers again). Replaces all state; nothing changes on error."""
        owner = f"{type(self).__name__}.load_state_dict"
        kind = str(np.asarray(state_dict.get("optimizer", "")))
        if kind != type(self).__name__:
            raise InvalidArgument(
                f"{owner}: this state_dict is from {kind or 'an unknown optimizer'!r}; load it "
                f"into a {kind or 'matching'} optimizer"
            )
        scalars = ("lr", "initial_lr", *self.hyperparameters)
        require_keys(owner, state_dict, scalars)
        values = {name: _like(getattr(self, name), state_dict[name]) for name in scalars}
        state: dict[Key, ParamState] = {}
        for name, value in state_dict.items():
            if name == "optimizer" or name in scalars:
                continue
            field, key = _parse_state_name(owner, name)
            array = np.array(value)  # a copy: the optimizer owns its state
            state.setdefault(key, {})[field] = int(array) if field == "step" else _readonly(array)
        self.lr = values.pop("lr")  # first: its setter's range check is all that can fail
        for name, value in values.items():
            setattr(self, name, value)
        self._state = state


def _like(current: Any, value: Any) -> Any:
    """``value`` (maybe a 0-d array from ``np.load``) converted to the type of ``current``."""
    if isinstance(current, bool):
        return bool(np.asarray(value))
    if isinstance(current, tuple):
        return tuple(float(x) for x in np.asarray(value).ravel())
    if isinstance(current, int):
        return int(np.asarray(value))
    return float(np.asarray(value))


def _parse_state_name(owner: str, name: str) -> tuple[str, Key]:
    field, _, key_repr = name.removeprefix(STATE_PREFIX).partition("/")
    key: object = None
    if name.startswith(STATE_PREFIX) and field and key_repr:
        try:
            key = ast.literal_eval(key_repr)
        except (ValueError, SyntaxError):
            key = None
    if not isinstance(key, str | int) or isinstance(key, bool):
        raise InvalidArgument(
            f"{owner}: unexpected entry {name!r}; entries are 'optimizer', 'lr', 'initial_lr', "
            "the hyper-parameters and 'state/<field>/<repr(key)>'"
        )
    return field, key
