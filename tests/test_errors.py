"""The error contract (SPEC §4): typed errors raised into the program at the failing yield.

For each error: its type and message, the user line it reports, that the program can catch it
around the ``yield``, that ``finally`` blocks run when it escapes, and that neither the input
tape nor the caller's arrays change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tapem as tm
from tapem import ops
from tapem.arrays import readonly

THIS_FILE = Path(__file__).read_text().splitlines()


def line_of(marker: str) -> int:
    """The line number of the line in this file that ends with ``# <marker>``."""
    hits = [i for i, line in enumerate(THIS_FILE, start=1) if line.endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


@tm.tapem
def base():
    a = yield from tm.param(np.array([1.0, 2.0]), name="a")
    return (yield a * 2.0)


BASE_OUT, BASE_TAPE = tm.run(base()).unwrap()


def assert_tape_unchanged(tape: tm.Tape) -> None:
    assert len(tape) == 2
    assert [n.op for n in tape] == ["leaf", "scale"]
    assert np.array_equal(tape.value(1), [2.0, 4.0])


# --- one failing program per error class ----------------------------------------------------------

USER = np.array([[1.0, 2.0, 3.0]])
USER_COPY = USER.copy()


@tm.tapem
def shape_mismatch(log):
    x = yield from tm.param(USER)
    y = yield from tm.param(np.ones(2))
    try:
        return (yield x + y)  # shape_mismatch
    finally:
        log.append("finally")


@tm.tapem
def invalid_node_id(log):
    stranger = tm.Handle(50, np.zeros(2))
    try:
        return (yield ops.neg(stranger))  # invalid_node_id
    finally:
        log.append("finally")


@tm.tapem
def domain_error(log):
    x = yield from tm.param(USER - 2.0)
    try:
        return (yield ops.log(x))  # domain_error
    finally:
        log.append("finally")


@tm.tapem
def invalid_argument(log):
    logits = yield from tm.param(np.zeros((2, 3)))
    labels = yield from tm.const(np.array([0, 3]))
    try:
        return (yield ops.cross_entropy(logits, labels))  # invalid_argument
    finally:
        log.append("finally")


@tm.tapem
def invalid_request(log):
    try:
        return (yield 42)  # invalid_request
    finally:
        log.append("finally")


@tm.tapem
def empty_dataset(log):
    try:
        return (yield from tm.mean_scalar_over([], tm.const, tag="batch"))  # empty_dataset
    finally:
        log.append("finally")


@tm.tapem
def not_scalar_sample(log):
    try:
        return (yield from tm.mean_scalar_over([USER], tm.const))  # not_scalar_sample
    finally:
        log.append("finally")


CASES = {
    "shape_mismatch": (shape_mismatch, tm.ShapeMismatch, "add: shape mismatch"),
    "invalid_node_id": (invalid_node_id, tm.InvalidNodeId, "invalid node id 50"),
    "domain_error": (domain_error, tm.DomainError, "safe_log"),
    "invalid_argument": (invalid_argument, tm.InvalidArgument, "labels must be integers"),
    "invalid_request": (invalid_request, tm.InvalidRequest, "got an object of type int"),
    "empty_dataset": (empty_dataset, tm.EmptyDataset, "batch: empty dataset"),
    "not_scalar_sample": (not_scalar_sample, tm.ShapeMismatch, "must be a scalar"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_type_message_line_and_cleanup(name):
    factory, error_type, text = CASES[name]
    log: list[str] = []
    result = tm.run(factory(log), BASE_TAPE)
    error = result.failure()
    assert type(error) is error_type
    assert isinstance(error, tm.TapeError)
    assert text in str(error)
    assert error.location is not None
    assert error.location.line == line_of(name)
    assert error.location.file.endswith("test_errors.py")
    assert f"test_errors.py:{line_of(name)}" in str(error)
    assert log == ["finally"]  # the generator was closed
    assert_tape_unchanged(BASE_TAPE)
    assert np.array_equal(USER, USER_COPY)


@pytest.mark.parametrize(
    "name",
    ["shape_mismatch", "invalid_node_id", "domain_error", "invalid_argument", "invalid_request"],
)
def test_errors_are_raised_at_the_yield_so_the_program_can_catch_them(name):
    failing, error_type, _ = CASES[name]

    @tm.tapem
    def recovering():
        try:
            yield from failing([])
        except error_type as error:
            seen.append(error)
        z = yield from tm.const(np.zeros(3))
        return (yield ops.sum(z))

    seen: list[tm.TapeError] = []
    out, tape = tm.run(recovering(), BASE_TAPE).unwrap()
    assert len(seen) == 1 and seen[0].location.line == line_of(name)
    assert float(tape.value(out)) == 0.0
    # nothing the failed request would have added is on the tape
    assert [n.op for n in tape][-2:] == ["leaf", "sum"]
    assert_tape_unchanged(BASE_TAPE)


def test_the_traceback_ends_on_the_users_line():
    error = tm.run(shape_mismatch([])).failure()
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append((Path(tb.tb_frame.f_code.co_filename).name, tb.tb_lineno))
        tb = tb.tb_next
    assert frames[-1] == ("test_errors.py", line_of("shape_mismatch"))


def test_not_scalar_from_value_and_grad_and_backward():
    @tm.tapem
    def vector():
        x = yield from tm.param(np.ones(3))
        return (yield x * 2.0)

    with pytest.raises(tm.NotScalar, match="seed gradient shape mismatch"):
        tm.value_and_grad(vector())
    out, tape = tm.run(vector()).unwrap()
    error = tm.backward(tape, out, np.ones(2)).failure()
    assert isinstance(error, tm.NotScalar)
    assert error.shape == (3,) and error.seed_shape == (2,)
    assert len(tm.backward(tape, out, np.ones(3)).unwrap()) == 2


def test_convenience_functions_raise_the_typed_error():
    with pytest.raises(tm.ShapeMismatch) as info:
        tm.value_and_grad(shape_mismatch([]))
    assert info.value.location.line == line_of("shape_mismatch")


def test_yielding_a_program_without_from_explains_yield_from():
    @tm.tapem
    def forgot_from():
        w = yield tm.param(np.ones(2))  # forgot_from
        return w

    error = tm.run(forgot_from()).failure()
    assert isinstance(error, tm.InvalidRequest)
    assert "yield from" in str(error)
    assert error.location.line == line_of("forgot_from")


def test_unknown_op_name_is_an_invalid_request_at_its_yield():
    @tm.tapem
    def unknown():
        x = yield from tm.param(np.ones(2))
        return (yield tm.Op("nope", [x]))  # <- nope

    error = tm.run(unknown()).failure()
    assert isinstance(error, tm.InvalidRequest)
    assert "no built-in op named 'nope'" in str(error)
    assert error.location.line == line_of("<- nope")


def test_duplicate_param_names_are_rejected_by_value_and_grad():
    @tm.tapem
    def twice():
        a = yield from tm.param(np.ones(2), name="w")
        b = yield from tm.param(np.ones(2), name="w")
        return (yield ops.sum((yield a * b)))

    with pytest.raises(tm.InvalidArgument, match="two trainable leaves are named 'w'"):
        tm.value_and_grad(twice())


def test_non_tape_errors_propagate_and_close_the_generator():
    log = []

    @tm.tapem
    def buggy():
        try:
            yield from tm.param(np.ones(2))
            raise RuntimeError("user bug")
        finally:
            log.append("finally")

    with pytest.raises(RuntimeError, match="user bug"):
        tm.run(buggy())
    assert log == ["finally"]


def test_run_rejects_things_that_are_not_programs():
    def plain():
        yield from tm.param(1.0)

    with pytest.raises(TypeError, match="@tm.tapem"):
        tm.run(plain())

    @tm.tapem
    def no_yield():
        return 3

    with pytest.raises(TypeError, match="forget a `yield`"):
        tm.run(no_yield())


# --- purity -------------------------------------------------------------------------------------


def test_user_arrays_are_never_written_and_the_tape_keeps_its_own_copy():
    w = np.array([1.0, -2.0])
    x = np.array([3.0, 4.0])

    @tm.tapem
    def loss():
        W = yield from tm.param(w, name="w")
        X = yield from tm.const(x)
        return (yield ops.sum((yield W * X)))

    out, tape = tm.run(loss()).unwrap()
    value, grads = tm.value_and_grad(loss())
    assert np.array_equal(w, [1.0, -2.0]) and np.array_equal(x, [3.0, 4.0])
    assert w.flags.writeable and x.flags.writeable
    w[0] = 100.0  # the caller may change their array afterwards ...
    assert np.array_equal(tape.value(0), [1.0, -2.0])  # ... the tape is unaffected
    with pytest.raises(ValueError, match="read-only"):
        tape.value(0)[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        grads["w"][0] = 5.0


def test_running_on_a_tape_extends_a_copy():
    @tm.tapem
    def more(h):
        return (yield h * 3.0)

    handle = BASE_TAPE.handle(BASE_OUT)
    out, tape = tm.run(more(handle), BASE_TAPE).unwrap()
    assert len(tape) == 3 and out.id == 2
    assert np.array_equal(tape.value(out), [6.0, 12.0])
    assert_tape_unchanged(BASE_TAPE)
    # the same input tape can be extended twice, independently
    out2, tape2 = tm.run(more(handle), BASE_TAPE).unwrap()
    assert len(tape2) == 3 and len(tape) == 3


def test_node_records_are_read_only():
    node = BASE_TAPE.node(1)
    with pytest.raises(AttributeError):
        node.value = np.zeros(2)  # type: ignore[misc]
    with pytest.raises(TypeError):
        node.params["c"] = 3.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        tm.Leaf(1.0).name = "x"  # type: ignore[misc]


def test_immutable_arrays_are_recorded_without_a_copy_and_changeable_ones_are_copied():
    frozen = readonly(np.arange(4.0))  # what tapem hands out: nobody can make it writable
    owned = np.arange(4.0)
    owned.flags.writeable = False  # read-only, but its owner may turn the flag back on
    base = np.arange(4.0)
    view = base[1:]
    view.flags.writeable = False  # read-only view of a writable base: still changeable via base

    @tm.tapem
    def leaves():
        a = yield from tm.const(frozen)
        b = yield from tm.const(view)
        c = yield from tm.const(owned)
        return a, b, c

    (a, b, c), tape = tm.run(leaves()).unwrap()
    assert np.shares_memory(tape.value(a), frozen)
    assert not np.shares_memory(tape.value(b), base)
    assert not np.shares_memory(tape.value(c), owned)
    base[1] = 100.0
    owned.flags.writeable = True
    owned[0] = 100.0
    assert tape.value(b)[0] == 1.0 and tape.value(c)[0] == 0.0


def every_error() -> list[tm.TapeError]:
    """One of each TapeError subclass, as tapem raises them."""
    return [
        tm.ShapeMismatch("add", [(2,), (3,)], "broadcast them"),
        tm.InvalidNodeId(7, 3, "add", stale=True),
        tm.NotScalar(3, (2,)),
        tm.EmptyDataset("train"),
        tm.DomainError("log", "an element is <= 0", "use safe_log"),
        tm.InvalidArgument("pool: kernel 0", op="max_pool"),
        tm.InvalidRequest(3.0, "yield a request"),
        tm.NonFinite("exp", 4, "backward", input_id=2, index=(0, 1)),
        tm.NotAHandle("a program used as a value"),
        tm.UnsupportedOperation("np.fft.fft of a handle"),
        tm.ScriptMismatch(2, "add", "mul", ["leaf", "leaf"]),
        tm.CheckpointError("run.npz", "truncated", "save it again"),
        tm.WorkerLost(1, 3, (4, 7), "a worker process died", "make a new pool"),
    ]


def test_every_error_survives_pickling_with_its_fields_location_and_notes():
    """Errors raised on a worker process come back pickled: the same type, message, fields,
    the user's line and the notes added on the way."""
    import pickle

    errors = every_error()
    public = {c for c in vars(tm).values() if isinstance(c, type) and issubclass(c, tm.TapeError)}
    assert {type(error) for error in errors} == public - {tm.TapeError}
    for error in errors:
        error.location = tm.SourceLocation("/home/me/loss.py", 12, "loss")
        error.add_note("on shard 1")
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error)
        assert str(back) == str(error) and back.args == error.args
        assert vars(back) == vars(error)
        assert back.location == ("/home/me/loss.py", 12, "loss")
        assert back.__notes__ == ["on shard 1"]
