"""The optimizer protocol shared by every tapem optimizer: ``params = opt.step(params, grads)``.

An optimizer maps a dict of named parameter arrays and the gradient dict of
:func:`~tapem.value_and_grad` to a **new** dict of new arrays. It never writes to its inputs. Its
parameters come in groups, as in ``torch.optim`` (:mod:`tapem.optim.groups`): each group has its
own ``lr`` and hyper-parameters, in ``optimizer.param_groups[i]``, which schedulers (and you)
may change between steps. It keeps per-parameter state (moments, step counts) keyed by parameter
name, which :meth:`Optimizer.state_dict` exports and :meth:`Optimizer.load_state_dict` restores.

Subclasses implement one pure function, :meth:`Optimizer.update`: the new value and new state of
one parameter from its value, gradient, previous state and its group's hyper-parameters.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias, TypeVar

import numpy as np

from tapem.arrays import readonly
from tapem.errors import InvalidArgument, ShapeMismatch, require_keys
from tapem.optim.groups import ParamGroups, group_of_key, parse_groups

__all__ = ["Key", "Optimizer", "ParamState"]

Key: TypeAlias = str | int
"""A parameter's key: its name (or, for an unnamed ``param``, its node id)."""

K = TypeVar("K", bound=Key)

ParamState: TypeAlias = dict[str, Any]
"""One parameter's state: ``"step"`` (an ``int``) and named arrays (``"exp_avg"``, ...)."""

_NO_STATE: Mapping[str, Any] = MappingProxyType({})
"""The state :meth:`Optimizer.update` gets before a parameter's first step (read-only)."""


def check_range(
    owner: str, name: str, value: Any, lo: float, hi: float = math.inf, *, open_hi: bool = False
) -> float:
    """``float(value)``, or :class:`~tapem.InvalidArgument` if it is not a number in ``[lo, hi]``
    (``[lo, hi)`` with ``open_hi``). NaN is never in range."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    inside = lo <= x < hi if open_hi else lo <= x <= hi
    if not inside:
        bracket = ")" if open_hi else "]"
        raise InvalidArgument(f"{owner}: {name} must be in [{lo}, {hi}{bracket}, got {value!r}")
    return x


def _owned(value: Any, *inputs: np.ndarray) -> Any:
    """``value`` (a result of :meth:`Optimizer.update`) as an immutable array of the optimizer's
    own: copied if it shares memory with an input (a caller's parameter or gradient)."""
    array = np.asarray(value)
    if any(np.may_share_memory(array, x) for x in inputs):
        array = array.copy()
    return readonly(array)


class Optimizer(ABC):
    """Base class: parameter groups, validation, per-parameter state, ``state_dict``.

    ``params`` (first argument, as in ``torch.optim``) is ``None`` for one group of every
    parameter, a list of names, or a list of group dicts (``{"params": [...], "lr": ...}``);
    the keyword arguments are the defaults of every group. ``param_groups[i]`` holds group
    ``i``'s ``"params"`` (``None``: every parameter), ``"lr"``, ``"initial_lr"`` (the ``lr`` it
    was built with; schedules start from it) and each hyper-parameter; ``defaults`` holds the
    keyword arguments. ``hyperparameters`` names the optimizer's own, in PyTorch's order.

    >>> from tapem.optim import SGD
    >>> opt = SGD([{"params": ["W"], "lr": 0.5}, {"params": ["b"]}], lr=0.1)
    >>> params = {"W": np.ones(1), "b": np.ones(1), "frozen": np.ones(1)}
    >>> grads = {"W": np.ones(1), "b": np.ones(1), "frozen": np.ones(1)}
    >>> new = opt.step(params, grads)
    >>> assert new["W"][0] == 0.5 and new["b"][0] == 0.9 and new["frozen"] is params["frozen"]
    >>> [group["lr"] for group in opt.param_groups]
    [0.5, 0.1]
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: ParamGroups = None, **defaults: Any) -> None:
        owner = type(self).__name__
        missing = [name for name in ("lr", *self.hyperparameters) if name not in defaults]
        if missing:
            raise InvalidArgument(
                f"{owner}: Optimizer.__init__ needs the defaults {missing!r} as keyword arguments "
                "(lr and each name in hyperparameters)"
            )
        self.defaults: dict[str, Any] = self._checked(owner, defaults)
        self.param_groups: list[dict[str, Any]] = parse_groups(owner, params, self.defaults)
        for i, group in enumerate(self.param_groups):
            group.update(self._checked(f"{owner}: parameter group {i}", group))
            group["initial_lr"] = group["lr"]
        self._state: dict[Key, ParamState] = {}

    def check_hyperparameters(self, owner: str, group: Mapping[str, Any]) -> dict[str, Any]:
        """Each of :attr:`hyperparameters` of ``group``, validated and normalized (e.g.
        ``float``); raise :class:`~tapem.InvalidArgument` naming ``owner`` for a bad one.
        Subclasses with hyper-parameters override this (the base class checks ``lr``)."""
        return {name: group[name] for name in self.hyperparameters}

    def _checked(self, owner: str, group: Mapping[str, Any]) -> dict[str, Any]:
        lr = check_range(owner, "lr", group["lr"], 0.0)
        return {"lr": lr, **self.check_hyperparameters(owner, group)}

    @property
    def lr(self) -> float:
        """The first group's learning rate, ``param_groups[0]["lr"]`` (read-only: set a group's
        ``"lr"`` to change it)."""
        return float(self.param_groups[0]["lr"])

    @property
    def state(self) -> Mapping[Key, Mapping[str, Any]]:
        """Per-parameter state (read-only): a parameter that never had a gradient has none."""
        return MappingProxyType({k: MappingProxyType(s) for k, s in self._state.items()})

    @abstractmethod
    def update(
        self, p: np.ndarray, g: np.ndarray, state: Mapping[str, Any], group: Mapping[str, Any]
    ) -> tuple[np.ndarray, ParamState]:
        """One parameter's new value and new state.

        ``state`` is what the previous call returned for this parameter, or an empty read-only
        mapping before its first step (so ``state.get("exp_avg", 0.0)`` starts a moment at
        zero: a Python float keeps float32 arithmetic float32). ``group`` holds the validated
        ``"lr"`` and hyper-parameters of the parameter's group. Must not write to ``p``, ``g``
        or ``state``; every array in the returned state must be new (the base class makes it
        read-only and keeps it).
        """

    def step(self, params: Mapping[K, np.ndarray], grads: Mapping[Any, Any]) -> dict[K, np.ndarray]:
        """Apply one update: returns a new dict with a new array for every parameter in ``grads``
        that is in a parameter group.

        The new arrays are read-only (nothing else holds them, so the next step's ``param``
        leaves record them without copying; ``.copy()`` one to edit it).

        A parameter without a gradient (no entry, or ``None``), or in no group, is returned as
        it was (the same object) and its state is left alone. A gradient for a key not in
        ``params`` is an :class:`~tapem.InvalidArgument` (it usually means the loss named a
        ``param`` differently from the dict); so is a group naming a key not in ``params``, or
        a bad hyper-parameter in ``param_groups``. Gradients must have their parameter's shape;
        parameters must be floating-point arrays. If anything fails, no state changes.
        """
        owner = type(self).__name__
        unknown = [k for k in grads if k not in params]
        if unknown:
            raise InvalidArgument(
                f"{owner}.step: gradients for {unknown!r} but no parameter with that key "
                f"(parameters: {list(params)!r}); use the names given to tm.param(..., name=...)"
            )
        settings = [
            self._checked(f"{owner}.step: param_groups[{i}]", group)
            for i, group in enumerate(self.param_groups)
        ]
        group_of = group_of_key(owner, self.param_groups, params)
        new_params: dict[K, np.ndarray] = {}
        new_state: dict[Key, ParamState] = {}
        for key, value in params.items():
            grad = grads.get(key)
            if grad is None or key not in group_of:
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
            state = self._state.get(key, _NO_STATE)
            new_p, new = self.update(p, g, state, settings[group_of[key]])
            # np.asarray: arithmetic on 0-d arrays gives numpy scalars; keep arrays throughout
            # immutable: a tape can record it without copying (tapem.arrays)
            new_params[key] = _owned(np.asarray(new_p, dtype=p.dtype), p, g)
            new_state[key] = {
                k: _owned(v, p, g) if isinstance(v, np.ndarray | np.generic) else v
                for k, v in new.items()
            }
        self._state.update(new_state)
        return new_params

    # ---- state_dict ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{"optimizer": class name, "param_groups": [...], "state": {key: {field: value}}}``,
        as PyTorch's (groups keep their parameter names); values are numbers, strings, tuples,
        lists and read-only arrays, so :func:`~tapem.checkpoint.save_checkpoint` stores it.

        >>> from tapem.optim import SGD
        >>> opt = SGD(lr=0.1, momentum=0.9)
        >>> _ = opt.step({"w": np.zeros(2)}, {"w": np.ones(2)})
        >>> sd = opt.state_dict()
        >>> sd["param_groups"][0]["momentum"], sorted(sd["state"]["w"])
        (0.9, ['momentum_buffer'])
        >>> resumed = SGD()
        >>> resumed.load_state_dict(sd)
        >>> assert resumed.param_groups == opt.param_groups
        >>> assert resumed.state["w"]["momentum_buffer"].tolist() == [1.0, 1.0]
        """
        groups = []
        for group in self.param_groups:
            names = group["params"]
            groups.append({**group, "params": None if names is None else list(names)})
        state = {key: dict(fields) for key, fields in self._state.items()}
        return {"optimizer": type(self).__name__, "param_groups": groups, "state": state}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` exported (also after a round trip through a
        checkpoint). The groups must name the same parameters as this optimizer's. Replaces all
        state; nothing changes on error."""
        owner = f"{type(self).__name__}.load_state_dict"
        kind = state_dict.get("optimizer", "")
        if kind != type(self).__name__:
            raise InvalidArgument(
                f"{owner}: this state_dict is from {kind or 'an unknown optimizer'!r}; load it "
                f"into a {kind or 'matching'} optimizer"
            )
        require_keys(owner, state_dict, ("param_groups", "state"))
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, list) or len(saved_groups) != len(self.param_groups):
            raise InvalidArgument(
                f"{owner}: the state_dict has {_count(saved_groups)} parameter groups, this "
                f"optimizer {len(self.param_groups)}; build it with the same groups"
            )
        groups = [self._loaded_group(owner, i, g) for i, g in enumerate(saved_groups)]
        if not isinstance(saved_state, Mapping):
            raise InvalidArgument(f"{owner}: 'state' must be a dict of parameter states")
        state = {key: _loaded_state(owner, key, fields) for key, fields in saved_state.items()}
        for group, loaded in zip(self.param_groups, groups, strict=True):
            group.update(loaded)
        self._state = state

    def _loaded_group(self, owner: str, index: int, saved: Any) -> dict[str, Any]:
        where = f"{owner}: parameter group {index}"
        if not isinstance(saved, Mapping):
            raise InvalidArgument(f"{where} is not a dict")
        require_keys(where, saved, ("params", "lr", "initial_lr", *self.hyperparameters))
        names = self.param_groups[index]["params"]
        if saved["params"] != (None if names is None else list(names)):
            raise InvalidArgument(
                f"{where} holds parameters {saved['params']!r}, this optimizer's {names!r}; "
                "build the optimizer with the same groups (None: every parameter)"
            )
        loaded = self._checked(where, saved)
        loaded["initial_lr"] = check_range(where, "initial_lr", saved["initial_lr"], 0.0)
        return loaded


def _count(groups: Any) -> object:
    return len(groups) if isinstance(groups, list) else f"not a list of ({type(groups).__name__})"


def _loaded_state(owner: str, key: Any, fields: Any) -> ParamState:
    if not isinstance(key, str | int) or isinstance(key, bool) or not isinstance(fields, Mapping):
        raise InvalidArgument(
            f"{owner}: unexpected state entry {key!r}; 'state' maps parameter keys (str or int) "
            "to dicts of their fields"
        )
    out: ParamState = {}
    for field, value in fields.items():
        array = np.array(value)  # a copy: the optimizer owns its state
        if array.dtype.kind not in "biuf" or (field == "step" and array.shape != ()):
            raise InvalidArgument(
                f"{owner}: state {field!r} of parameter {key!r} is {value!r}, not a number or "
                "numeric array; pass the dict that state_dict() returned"
            )
        out[field] = int(array) if field == "step" else readonly(array)
    return out
