"""The closed hierarchy of errors a tapem program can fail with.

Every error is an :class:`Exception` with structured fields and a message that says what went
wrong, where (op, node, the user's ``file:line``) and how to fix it. The driver fills in
:attr:`TapeError.location` with the user's source line of the request that failed, then raises
the error into the program at that ``yield``.

>>> err = ShapeMismatch("add", [(2,), (3,)])
>>> isinstance(err, TapeError) and "shape mismatch" in str(err)
True
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from typing import Any, NamedTuple

__all__ = [
    "DomainError",
    "EmptyDataset",
    "InvalidArgument",
    "InvalidNodeId",
    "InvalidRequest",
    "NonFinite",
    "NotAHandle",
    "NotScalar",
    "ScriptMismatch",
    "ShapeMismatch",
    "SourceLocation",
    "TapeError",
    "UnsupportedOperation",
    "WorkerLost",
    "check_int",
    "require_keys",
]


class SourceLocation(NamedTuple):
    """Where in the user's code a request was made."""

    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


def _fmt_shape(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


class TapeError(Exception):
    """Base class of every error tapem reports.

    ``message`` says what went wrong; ``op`` names the operation (if any); ``location`` is the
    user's source line of the failing request (set by the driver when the error is raised into
    the program).
    """

    def __init__(self, message: str, *, op: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.op = op
        self.location: SourceLocation | None = None

    def __str__(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.message} (at {self.location})"

    def __reduce__(self) -> tuple[Any, ...]:
        # An error raised on a worker process comes back pickled. Exception's own reduce calls
        # ``type(self)(*self.args)``, which the subclasses' structured signatures refuse; this
        # rebuilds the error without its __init__: the same type, fields, location and notes.
        return (_unpickle, (type(self), self.args), self.__dict__)


def _unpickle(cls: type[TapeError], args: tuple[Any, ...]) -> TapeError:
    return cls.__new__(cls, *args)


class ShapeMismatch(TapeError):
    """Operand shapes do not fit the op, or a per-sample loss is not scalar."""

    def __init__(self, op: str, shapes: Sequence[Sequence[int]], detail: str = "") -> None:
        self.shapes = tuple(tuple(s) for s in shapes)
        got = ", ".join(_fmt_shape(s) for s in self.shapes)
        hint = f": {detail}" if detail else ""
        super().__init__(f"{op}: shape mismatch, got {got}{hint}", op=op)


class InvalidNodeId(TapeError):
    """A handle or node id that is not on this tape.

    ``stale`` says the id is in range but the handle belongs to another tape: it was made by
    another run (or by hand), so the node with that id here is not the one it names.
    """

    def __init__(
        self, node_id: object, tape_length: int, op: str | None = None, *, stale: bool = False
    ) -> None:
        self.node_id = node_id
        self.tape_length = tape_length
        self.stale = stale
        where = f"{op}: " if op else ""
        if stale:
            why = (
                "the handle was made by another run or by hand, and node "
                f"{node_id!r} of this tape is a different node; use the handles this run's "
                "requests return (or tape.handle(id) for a tape this run extends)"
            )
        else:
            why = (
                f"the tape has {tape_length} nodes (ids 0..{tape_length - 1}); was this "
                "handle made by another run?"
            )
        super().__init__(f"{where}invalid node id {node_id!r}: {why}", op=op)


class NotScalar(TapeError):
    """``backward_scalar`` from an output that is not a scalar, or a seed of the wrong shape."""

    def __init__(self, node_id: int, shape: Sequence[int], seed_shape: Sequence[int] = ()) -> None:
        self.node_id = node_id
        self.shape = tuple(shape)
        self.seed_shape = tuple(seed_shape)
        super().__init__(
            f"seed gradient shape mismatch: node {node_id} has shape {_fmt_shape(self.shape)}, "
            f"the seed has shape {_fmt_shape(self.seed_shape)}; reduce the output to a scalar "
            "(e.g. ops.sum or ops.mean) or pass a seed of the output's shape to tm.backward"
        )


class EmptyDataset(TapeError):
    """``mean_scalar_over*`` over no samples, or batching an empty dataset."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        super().__init__(f"{tag}: empty dataset")


class DomainError(TapeError):
    """An input outside the op's domain (``log`` of a value <= 0 or NaN)."""

    def __init__(self, op: str, detail: str, hint: str = "") -> None:
        self.detail = detail
        msg = f"{op}: {detail}" + (f"; {hint}" if hint else "")
        super().__init__(msg, op=op)


class InvalidArgument(TapeError):
    """A bad static parameter (pool kernel 0, smooth-max beta 0, batch size <= 0, ...)."""

    def __init__(self, message: str, *, op: str | None = None) -> None:
        super().__init__(message, op=op)


class InvalidRequest(TapeError):
    """The program yielded something that is not a request (``Leaf`` or ``Op``)."""

    def __init__(self, obj: object, detail: str = "") -> None:
        self.object_type = type(obj).__name__
        extra = f"; {detail}" if detail else ""
        super().__init__(
            f"a tapem program may only yield requests (Leaf or Op); got an object of type "
            f"{self.object_type}{extra}"
        )


class NonFinite(TapeError):
    """The debugging interpreter found NaN or Inf in a value or a cotangent.

    ``op`` and ``node_id`` name the node whose forward value (``phase == "forward"``) or whose
    VJP's cotangent (``phase == "backward"``; ``input_id`` is the input it was sent to) was not
    finite; ``created_at`` is the user's line that created that node (also the error's
    ``location``); ``index`` is the position of its first non-finite element. Inside a batched
    loss, ``sample`` is the index of the sample it belongs to (``None`` outside a batch).
    """

    def __init__(
        self,
        op: str,
        node_id: int,
        phase: str,
        created_at: SourceLocation | None = None,
        detail: str = "",
        *,
        input_id: int | None = None,
        index: tuple[int, ...] | None = None,
    ) -> None:
        self.node_id = node_id
        self.phase = phase
        self.created_at = created_at
        self.input_id = input_id
        self.index = index
        self.sample: int | None = None
        what = "value" if phase == "forward" else "cotangent"
        extra = f": {detail}" if detail else ""
        super().__init__(
            f"non-finite {what} in the {phase} pass at node {node_id} ({op}){extra}", op=op
        )
        self.location = created_at

    def in_sample(self, sample: int) -> None:
        """Say that the non-finite value belongs to sample ``sample`` of a batched loss."""
        self.sample = sample
        self.message = self.message.replace(
            f"at node {self.node_id} ", f"at node {self.node_id} (sample {sample}) ", 1
        )
        self.args = (self.message,)


class NotAHandle(TapeError, TypeError):
    """A value where the handle of a node is needed: a program that had to return a handle (to
    differentiate it, or to read its value) returned something else, or a sub-program was used
    as a value without running it (a missing ``yield from``). Also a ``TypeError``."""


class UnsupportedOperation(TapeError, TypeError):
    """A numpy function, method or operator that tapem has no op for, used on a handle (or a
    request); the message names the closest op. Also a ``TypeError``, as numpy's own refusals
    are."""


class ScriptMismatch(TapeError):
    """A scripted interpreter saw a request other than the one it expected."""

    def __init__(self, index: int, expected: str, got: str, log: Sequence[str]) -> None:
        self.index = index
        self.expected = expected
        self.got = got
        self.log = tuple(log)
        so_far = "\n".join(f"  {line}" for line in self.log) or "  (nothing)"
        super().__init__(
            f"request {index}: expected {expected}, got {got}\nrequests so far:\n{so_far}"
        )


class WorkerLost(TapeError):
    """A shard of a data-parallel step (:mod:`tapem.distributed`) that no worker finished: its
    worker process died and the executor cannot run it again (a ``ProcessPoolExecutor``), or
    Dask gave up on it after its allowed retries. The step was not applied.

    ``shard`` is the shard's index, ``shards`` the number of shards in the step, ``samples``
    the ``(start, stop)`` range of the batch that the shard held, ``cause`` what the executor
    reported.

    >>> err = WorkerLost(1, 3, (4, 7), "its worker process died")
    >>> str(err)
    'shard 1 of 3 (samples 4:7) was lost: its worker process died; the step was not applied'
    """

    def __init__(
        self, shard: int, shards: int, samples: tuple[int, int], cause: str, hint: str = ""
    ) -> None:
        self.shard = shard
        self.shards = shards
        self.samples = samples
        self.cause = cause
        start, stop = samples
        super().__init__(
            f"shard {shard} of {shards} (samples {start}:{stop}) was lost: {cause}; the step "
            "was not applied" + (f"; {hint}" if hint else "")
        )


def check_int(owner: str, name: str, value: Any, minimum: int, *, must: str = "") -> int:
    """``value``, or :class:`InvalidArgument` if it is not an ``int`` (a ``bool`` is not one)
    ``>= minimum``: ``{owner}: {name} must be {must}, got {value!r}``, where ``must`` is by
    default ``an integer >= {minimum}``.

    >>> check_int("fit", "epochs", 3, 0)
    3
    >>> try:
    ...     check_int("StepLR", "step_size", 0, 1, must="a positive integer")
    ... except InvalidArgument as error:
    ...     print(error)
    StepLR: step_size must be a positive integer, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(
            f"{owner}: {name} must be {must or f'an integer >= {minimum}'}, got {value!r}"
        )
    return value


def require_keys(owner: str, state: Container[str], names: Iterable[str]) -> None:
    """Raise :class:`InvalidArgument` naming each of ``names`` that ``state`` (a dict passed to
    ``owner``, e.g. ``"SGD.load_state_dict"``) lacks.

    >>> try:
    ...     require_keys("DataLoader.load_state_dict", {"seed": 7}, ("seed", "epoch"))
    ... except InvalidArgument as error:
    ...     print(error)
    DataLoader.load_state_dict: missing ['epoch']; pass the dict that state_dict() returned
    """
    missing = [name for name in names if name not in state]
    if missing:
        raise InvalidArgument(
            f"{owner}: missing {missing!r}; pass the dict that state_dict() returned"
        )


class CheckpointError(TapeError):
    """A checkpoint file that cannot be used: missing, truncated, corrupted, not a tapem
    checkpoint, or not matching the run that loads it. ``path`` is the file and ``problem``
    says what is wrong with it.

    >>> err = CheckpointError("run.npz", "no such file", "check the path")
    >>> str(err)
    "checkpoint 'run.npz': no such file; check the path"
    """

    def __init__(self, path: str, problem: str, hint: str = "") -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"checkpoint {path!r}: {problem}" + (f"; {hint}" if hint else ""))
