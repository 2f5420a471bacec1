"""The recording path: the one place where a request becomes a node.

For every request of a run, :class:`Recording`

1. resolves an op requested by name (``Op("add", ...)``) through the op table;
2. fetches the inputs by id and checks them: the number of inputs against the op's declared
   inputs, and that each handle belongs to this run's tape (the handle carries the very object
   its node recorded, so a stale handle from another run, or a hand-made one, is refused);
3. asks the interpreter for the node's value (``interpreter.leaf(request)`` /
   ``interpreter.op(request, xs)``: the only thing an interpreter decides);
4. interns the op's definition in the tape's rule list and appends the record.

Requests of one, two and three inputs take a fast path that does the checks with a few
identity comparisons; anything unusual (a first use of an op, a request by name, a variadic op,
an input that is not a valid handle) takes the general path, which names what is wrong with a
typed error. Either way the interpreter sees only resolved, checked requests, and nothing is
recorded for a request that fails.

>>> import numpy as np
>>> import tapem as tm
>>> @tm.tapem
... def f():
...     x = yield from tm.param(np.array([1.0, 2.0]))
...     return (yield tm.Op("mul", [x, x]))          # by name: resolved here
>>> out, tape = tm.run(f()).unwrap()
>>> tape.node(out).op, tape.parents(out)
('mul', (0, 0))
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, NoReturn

import numpy as np

from tapem.batching.apply import Batching
from tapem.batching.levels import Batched, Begin, End, Level
from tapem.errors import InvalidNodeId, InvalidRequest, TapeError
from tapem.handle import Handle
from tapem.ops import TABLE
from tapem.ops.opdef import OpDef
from tapem.program import Program
from tapem.protocol import Interpreter
from tapem.requests import Leaf, Op, make_op
from tapem.sites import Site
from tapem.tape import Record, Tape

__all__ = ["Recording"]


_alloc = object.__new__


class _Stale(Exception):
    """A fast-path check failed: the general path finds out what and says so."""


class Recording:
    """The tape of one run as it grows, and the path that appends to it.

    It starts from a shallow copy of the input tape's lists (the input tape never changes) and
    hands them over as a new :class:`~tapem.Tape` in :meth:`finish`.
    """

    __slots__ = (
        "_batching",
        "_binary",
        "_leaf_value",
        "_levels",
        "_op_value",
        "_refused",
        "_rule_ids",
        "_signatures",
        "_ternary",
        "_unary",
        "nodes",
        "rules",
        "site",
    )

    def __init__(self, tape: Tape, interpreter: Interpreter, gen: Any = None) -> None:
        self.nodes: list[Record] = list(tape._nodes)
        self.rules: list[OpDef] = list(tape._rules)
        self.site = Site(gen, self.nodes)  # where the program (``gen``) is, for interpreters
        self._rule_ids = {rule: k for k, rule in enumerate(self.rules)}
        # The same, split by the arity of fixed-arity ops (1, 2, 3): a hit in the dict of a
        # request's number of inputs also checks its arity.
        self._unary: dict[OpDef, int] = {}
        self._binary: dict[OpDef, int] = {}
        self._ternary: dict[OpDef, int] = {}
        for rule, k in self._rule_ids.items():
            self._by_arity(rule)[rule] = k
        self._signatures: set[tuple[Any, ...]] = set()  # that passed their shape rule
        self._leaf_value = interpreter.leaf
        self._op_value = interpreter.op
        self._refused = getattr(interpreter, "refused", None)
        self._batching: Batching | None = None  # made when a batched run opens a level
        self._levels: list[Level] = []  # the open levels (the batching's own list)

    def leaf(self, request: Leaf) -> Handle:
        """Record a leaf; its handle."""
        if self._levels or request._value.__class__ is not np.ndarray:
            return self._leaf_batched(request)
        return self._record_leaf(request)

    def _leaf_batched(self, request: Leaf) -> Handle:
        if self._batching is None:  # per-sample data outside any batched run
            raise InvalidRequest(
                request, "its value is per-sample data of a batched run that has ended"
            )
        return self._batching.leaf(request)

    def _record_leaf(self, request: Leaf) -> Handle:
        value = self._leaf_value(request)
        nodes = self.nodes
        nodes.append((value, request._name, request._requires_grad, (), None, ()))
        handle = _alloc(Handle)
        handle.id = len(nodes) - 1
        handle._value = value
        return handle

    def op(self, request: Op) -> Handle:
        """Record an op; its handle."""
        rule, inputs, args = request._rule, request._inputs, request._args
        nodes = self.nodes
        n = len(inputs)
        ids: tuple[int, ...]
        xs: tuple[Any, ...]
        slow = False  # the checked path runs outside the handlers below, so that its errors are
        if n == 2:  # not raised with the fast path's KeyError (say) as their context
            try:
                index = self._binary[rule]  # KeyError: a first use, a name, another arity
                x, y = inputs
                if x.__class__ is not Handle or y.__class__ is not Handle:
                    raise _Stale  # (an expression: cheaper than an AttributeError)
                i = x.id
                j = y.id
                nx = nodes[i]
                ny = nodes[j]
                a = nx[0]
                b = ny[0]
                if a is not x._value or b is not y._value:
                    raise _Stale
            except (_Stale, KeyError, AttributeError, IndexError, TypeError):
                slow = True
            if slow:
                return self._op_checked(request)
            if not rule.elementwise or a.shape != b.shape:  # the shape rule, inlined
                try:
                    if args:
                        rule.shape(a, b, *args)
                    else:
                        key = (rule, a.shape, b.shape, a.dtype, b.dtype)
                        if key not in self._signatures:
                            rule.shape(a, b)
                            self._signatures.add(key)
                except TapeError as error:
                    self._refuse(request, error)
            xs = (a, b)
            ids = (i, j)
            requires_grad = nx[2] or ny[2]
        elif n == 1:
            try:
                index = self._unary[rule]
                h = inputs[0]
                i = h.id
                node = nodes[i]
                a = node[0]
                if a is not h._value:
                    raise _Stale
            except (_Stale, KeyError, AttributeError, IndexError, TypeError):
                slow = True
            if slow:
                return self._op_checked(request)
            if not rule.elementwise:
                try:
                    rule.shape(a, *args)
                except TapeError as error:
                    self._refuse(request, error)
            xs = (a,)
            ids = (i,)
            requires_grad = node[2]
        else:  # n == 3 goes no further (linear, layer_norm, conv, ...); the rest is general
            try:
                index = self._ternary[rule]
                x, y, z = inputs
                ids = (x.id, y.id, z.id)
                nx, ny, nz = nodes[ids[0]], nodes[ids[1]], nodes[ids[2]]
                xs = (nx[0], ny[0], nz[0])
                if xs[0] is not x._value or xs[1] is not y._value or xs[2] is not z._value:
                    raise _Stale
            except (_Stale, KeyError, AttributeError, IndexError, TypeError, ValueError):
                slow = True
            if slow:
                return self._op_checked(request)
            try:  # the shape rule, inlined
                if args:
                    rule.shape(*xs, *args)
                else:
                    a, b, c = xs
                    signature = (rule, a.shape, b.shape, c.shape, a.dtype, b.dtype, c.dtype)
                    if signature not in self._signatures:
                        rule.shape(a, b, c)
                        self._signatures.add(signature)
            except TapeError as error:
                self._refuse(request, error)
            requires_grad = nx[2] or ny[2] or nz[2]
        value = self._op_value(request, xs)
        nodes.append((value, None, requires_grad, ids, index, args))
        handle = _alloc(Handle)  # Handle(id, value) without running __init__: a tenth faster
        handle.id = len(nodes) - 1
        handle._value = value
        return handle

    def _op_checked(self, request: Op) -> Handle:
        """The general path: resolve, check everything with typed errors, intern, record (or
        record an expression op by op, or batch an op on per-sample handles)."""
        per_sample = False
        for x in request._inputs:  # one pass: is it an expression, or batched?
            cls = x.__class__
            if cls is Handle:
                if x._value.__class__ is Batched:
                    per_sample = True
            elif cls is Op or cls is Leaf or isinstance(x, (Op, Leaf)):
                return self._expression(request, {})
        try:
            request = self._resolved(request)
            if per_sample and self._batching is not None:
                return self._batching.op(request)
            xs, parents = self._checked(request)
        except TapeError as error:
            self._refuse(request, error)
        rule, inputs, args = request._rule, request._inputs, request._args
        value = self._op_value(request, xs)
        index = self._rule_ids.get(rule)
        if index is None:
            index = self._rule_ids[rule] = len(self.rules)
            self.rules.append(rule)
            self._by_arity(rule)[rule] = index
        requires_grad = False
        for parent in parents:
            if parent[2]:
                requires_grad = True
                break
        ids = tuple([h.id for h in inputs])
        self.nodes.append((value, None, requires_grad, ids, index, args))
        return Handle(len(self.nodes) - 1, value)

    def _expression(self, request: Op, done: dict[int, Handle]) -> Handle:
        """Record an expression (an op some of whose inputs are requests): its inputs first,
        left to right and depth first (the order Python built them in), each request once
        (``done``, by identity), then the op itself; each is an ordinary request."""
        inputs = request._inputs
        new = None
        for k, x in enumerate(inputs):
            cls = x.__class__
            if cls is Handle or not (cls is Op or cls is Leaf or isinstance(x, (Op, Leaf))):
                continue
            handle = done.get(id(x))
            if handle is None:
                if cls is Op:
                    for y in x._inputs:
                        if y.__class__ is not Handle:
                            handle = self._expression(x, done)
                            break
                    else:  # a request of handles: recorded as it is, without a detour
                        handle = self.op(x)
                else:
                    handle = self._expression(x, done) if isinstance(x, Op) else self.leaf(x)
                done[id(x)] = handle
            if new is None:
                new = list(inputs)
            new[k] = handle
        if new is None:  # its inputs are handles: the request itself
            return self.op(request)
        return self.op(make_op(request._rule, tuple(new), request._args))

    def _resolved(self, request: Op) -> Op:
        """``request`` with its op definition and bound arguments (resolving a name), once its
        number of inputs is checked."""
        rule, inputs, args = request._rule, request._inputs, request._args
        if isinstance(rule, str):
            rule, args = _resolve(rule, args)
            request = make_op(rule, inputs, args)
        elif not isinstance(rule, OpDef):
            raise InvalidRequest(
                request, f"its rule is a {type(rule).__name__}, not an op definition (OpDef)"
            )
        _check_arity(request, rule, len(inputs))
        return request

    def _checked(self, request: Op) -> tuple[tuple[Any, ...], list[Record]]:
        """The values and records of ``request``'s inputs, once every check passed."""
        rule, inputs, args = request._rule, request._inputs, request._args
        nodes = self.nodes
        count = len(nodes)
        parents = []
        for k, h in enumerate(inputs):
            if h.__class__ is not Handle:
                raise InvalidRequest(request, _not_a_handle(rule, k, h))
            i = h.id
            if not (isinstance(i, int) and 0 <= i < count and nodes[i][0] is h._value):
                if h._value.__class__ is Batched:
                    raise InvalidRequest(
                        request, f"input {k} is a per-sample handle of a batched run that ended"
                    )
                raise InvalidNodeId(i, count, rule.name, stale=0 <= i < count)
            parents.append(nodes[i])
        xs = tuple([p[0] for p in parents])
        self._check_shapes(rule, xs, args)
        return xs, parents

    def request(self, request: Any) -> Any:
        """Any other request: the opening and closing of a batched run, an ``Op`` or ``Leaf``
        of a subclass; anything else is an :class:`~tapem.InvalidRequest`."""
        cls = request.__class__
        if cls is Begin:
            if self._batching is None:
                self._batching = Batching(self._record_leaf, self.op, self.site)
                self._levels = self._batching.levels
            self._batching.begin(request.level)
            return None
        if cls is End:
            if self._batching is None:
                raise InvalidRequest(request, "no batched run is open")
            return self._batching.end(request.level, request.result)
        if isinstance(request, Op):
            return self.op(request)
        if isinstance(request, Leaf):
            return self.leaf(request)
        if isinstance(request, (Program, Generator)):
            raise InvalidRequest(
                request, "use `yield from` to run a sub-program, e.g. `yield from tm.param(w)`"
            )
        raise InvalidRequest(request)

    def _by_arity(self, rule: OpDef) -> dict[OpDef, int]:
        """Where the fast path looks ``rule`` up: the dict of its arity (1, 2 or 3; any other
        arity goes to a dict the fast path never reads)."""
        return {1: self._unary, 2: self._binary, 3: self._ternary}.get(rule.arity or 0, {})

    def _refuse(self, request: Op, error: TapeError) -> NoReturn:
        """Tell the interpreter (if it listens: ``refused(request, error)``) that the recording
        path refused ``request``, and raise ``error``."""
        if self._refused is not None:
            self._refused(request, error)
        raise error

    def _check_shapes(self, rule: OpDef, xs: tuple[Any, ...], args: tuple[Any, ...]) -> None:
        """Run the op's shape rule, which raises for inputs that do not fit. A rule depends on
        nothing but shapes, dtypes and parameters, so for an op without parameters each
        signature is checked once per run: a per-sample loss checks ``linear`` once, not once
        per sample. A request that fails is never remembered, so it fails every time."""
        if args:
            rule.shape(*xs, *args)
            return
        key = (rule, *[x.shape for x in xs], *[x.dtype for x in xs])
        if key not in self._signatures:
            rule.shape(*xs)
            self._signatures.add(key)

    def finish(self) -> Tape:
        """The tape of the run (the recording is spent)."""
        return Tape.adopt(self.nodes, self.rules)

    def release(self) -> None:
        """Drop what refers back to this recording (a batched run's state holds its methods),
        so that the run's tape is freed as soon as nobody holds it, not at the next cyclic
        collection: the driver calls it when a run ends, however it ends."""
        self._batching = None
        self._levels = []


def _resolve(name: str, pairs: tuple[tuple[str, Any], ...]) -> tuple[OpDef, tuple[Any, ...]]:
    """The built-in op ``name`` and its bound arguments, or :class:`~tapem.InvalidRequest`."""
    rule = TABLE.get(name)
    if rule is None:
        raise InvalidRequest(
            name, f"there is no built-in op named {name!r} (tapem.ops.TABLE lists them)"
        )
    try:
        return rule, rule.bind((), dict(pairs))
    except TypeError as error:
        raise InvalidRequest(name, str(error)) from None


def _check_arity(request: Op, rule: OpDef, n: int) -> None:
    if rule.arity is None:
        if n == 0:
            raise InvalidRequest(request, f"{rule.name} needs at least one input")
        return
    if n != rule.arity:
        names = ", ".join(rule.inputs or ())
        raise InvalidRequest(
            request,
            f"{rule.name} takes {rule.arity} input(s) ({names}); the request has {n}",
        )


def _not_a_handle(rule: OpDef, k: int, value: object) -> str:
    what = f"input {k} of {rule.name} is a {type(value).__name__}, not a handle"
    if isinstance(value, (Op, Leaf)):
        return f"{what}: yield a request to get its handle (`h = yield request`)"
    if isinstance(value, Generator):
        return f"{what}: run a sub-program with `yield from` to get its handle"
    if isinstance(value, (np.ndarray, np.generic, float, int, list)):
        return f"{what}: put arrays on the tape first, e.g. `x = yield from tm.const(array)`"
    return what
