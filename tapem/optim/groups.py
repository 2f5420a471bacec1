"""Parameter groups as ``torch.optim`` takes them, with parameters named by their keys.

An optimizer's first argument says which parameters it updates and with which hyper-parameters:

- ``None`` (the default): one group of every parameter;
- names (a list of keys, or a ``{name: array}`` dict, whose keys are taken): one group of those;
- a list of dicts, one per group: ``{"params": [names...], "lr": ..., ...}``; a group's missing
  hyper-parameters come from the optimizer's keyword arguments.

>>> groups = parse_groups("Adam", [{"params": ["W"], "lr": 0.1}, {"params": "b"}], {"lr": 0.01})
>>> groups
[{'params': ['W'], 'lr': 0.1}, {'params': ['b'], 'lr': 0.01}]
>>> assert group_of_key("Adam", groups, ["W", "b", "c"]) == {"W": 0, "b": 1}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from tapem.errors import InvalidArgument

__all__ = ["ParamGroups", "group_of_key", "parse_groups"]

ParamGroups: TypeAlias = Iterable[Any] | Mapping[Any, Any] | None
"""What an optimizer's first argument may be (see the module docstring)."""

_HOW = (
    "pass None (every parameter), a list of names, or a list of group dicts such as "
    '[{"params": ["W"], "lr": 0.1}, {"params": ["b"]}]'
)


def _is_key(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _names(owner: str, where: str, value: object) -> list[Any]:
    """A group's parameter keys: one key, or an iterable of keys (a dict gives its keys)."""
    if _is_key(value):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, bytes):
        names = list(value)
        bad = [name for name in names if not _is_key(name)]
        if not bad:
            return names
        value = bad[0]
    raise InvalidArgument(
        f"{owner}: {where} must name parameters by their keys (str or int), got "
        f"{type(value).__name__} {value!r}; {_HOW}"
    )


def parse_groups(
    owner: str, params: ParamGroups, defaults: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The parameter groups of ``params`` (see the module docstring), each completed with
    ``defaults``. ``"params"`` is ``None`` in the one group of every parameter."""
    if params is None:
        return [{"params": None, **defaults}]
    if isinstance(params, Mapping) and "params" in params:
        raise InvalidArgument(f"{owner}: a parameter group goes in a list: [{{...}}]; {_HOW}")
    if not isinstance(params, Iterable) or isinstance(params, str | bytes):
        number: object = params  # (mypy: the type allows no number, a caller may pass one)
        is_number = isinstance(number, int | float) and not isinstance(number, bool)
        hint = f"; pass the learning rate as lr={params!r}" if is_number else ""
        raise InvalidArgument(
            f"{owner}: the first argument is the parameters, as in torch.optim; got "
            f"{type(params).__name__} {params!r}{hint}; {_HOW}"
        )
    entries = list(params)
    if not entries:
        raise InvalidArgument(f"{owner}: got an empty parameter list; {_HOW}")
    if not any(isinstance(entry, Mapping) for entry in entries):
        groups = [{"params": _names(owner, "params", entries), **defaults}]
    elif all(isinstance(entry, Mapping) for entry in entries):
        groups = [_group(owner, i, entry, defaults) for i, entry in enumerate(entries)]
    else:
        raise InvalidArgument(f"{owner}: mix of names and group dicts; {_HOW}")
    group_of_key(owner, groups, ())  # refuse a parameter in two groups now, not at the first step
    return groups


def _group(
    owner: str, index: int, entry: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    where = f"parameter group {index}"
    if "params" not in entry:
        raise InvalidArgument(f"{owner}: {where} has no 'params' entry; {_HOW}")
    unknown = [key for key in entry if key != "params" and key not in defaults]
    if unknown:
        raise InvalidArgument(
            f"{owner}: {where} has unknown entries {unknown!r}; a group may set 'params' and "
            f"{sorted(defaults)!r}"
        )
    names = _names(owner, f"{where}'s 'params'", entry["params"])
    if not names:
        raise InvalidArgument(f"{owner}: {where} names no parameters; {_HOW}")
    return {"params": names, **defaults, **{k: v for k, v in entry.items() if k != "params"}}


def group_of_key(
    owner: str, groups: Sequence[Mapping[str, Any]], keys: Iterable[Any]
) -> dict[Any, int]:
    """Which group updates each of ``keys`` (keys of no group are missing: they stay as they
    are). A group that names a key twice, or a key in two groups, is an
    :class:`~tapem.InvalidArgument`; so is a named key not in ``keys`` (unless ``keys`` is
    empty: then only the groups are checked)."""
    out: dict[Any, int] = {}
    keys = list(keys)
    for i, group in enumerate(groups):
        names = group["params"]
        if names is None:
            return dict.fromkeys(keys, i)
        for name in names:
            if name in out:
                raise InvalidArgument(
                    f"{owner}: parameter {name!r} is in more than one parameter group "
                    f"(groups {out[name]} and {i}); give each parameter one group"
                )
            out[name] = i
    if keys:
        present = set(keys)
        missing = [name for name in out if name not in present]
        if missing:
            raise InvalidArgument(
                f"{owner}.step: the parameter groups name {missing!r} but the parameters have no "
                f"such key (they have {keys!r}); use the names given to tm.param(..., name=...)"
            )
    return out
