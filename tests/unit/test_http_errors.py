"""Errors carry a kind and a reason code, never an HTTP status: the status a client sees is
decided once, in entrypoints/api/http_errors.py, and is the same as the API has always answered."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import labgate
from labgate.adapters.channels.packstore import (
    PackExists,
    PackNotClaimed,
    TransportUnavailable,
    UnsafePackName,
)
from labgate.adapters.codecs.b2mml import (
    InvalidDocument,
    MalformedDocument,
    SchemasNotFound,
)
from labgate.adapters.codecs.b2mml_messages import UnsupportedMessage
from labgate.adapters.store.migrate import SchemaBehind
from labgate.compliance.access import BadCredentials
from labgate.compliance.checkpoints import TrailBroken
from labgate.compliance.envelope import EnvelopeError
from labgate.compliance.throttle import Throttled
from labgate.domain.certificate import CertificateIncomplete
from labgate.domain.errors import (
    Conflict,
    DuplicateKey,
    Forbidden,
    InvalidInput,
    InvalidLimit,
    InvalidTransition,
    LabgateError,
    MalformedNumber,
    MethodVersionMismatch,
    NotFound,
    SegregationOfDuties,
    Unauthenticated,
    UnitError,
)
from labgate.entrypoints.api import http_errors
from labgate.entrypoints.api.body_checks import MalformedBody
from labgate.entrypoints.api.http_errors import FrameworkRefusal, http_status
from labgate.entrypoints.api.middleware import BodyTimeout, BodyTooLarge
from labgate.service.inbox.errors import (
    ChannelNotAllowed,
    OutsideReplayWindow,
    ReceiptRefused,
    SourceMismatch,
    StaleSequence,
)
from labgate.service.inbox.incoming import RouteMismatch
from labgate.service.outbox.records import SealBroken
from labgate.service.outbox.relay import DeliveryFailed
from labgate.service.packs import PackRefused

SOURCE = Path(labgate.__file__).parent
# The migrations are alembic scripts (env.py runs only under alembic), and __main__ runs the CLI.
SKIPPED = ("labgate.adapters.store.migrations", "labgate.__main__")
# Refusals whose status is not their class's: a quarantined message answers with its cause's, a
# refusal the HTTP framework made with the framework's own.
WRAPPERS = (ReceiptRefused, FrameworkRefusal)

# What clients have been answered, kind by kind: the contract the table must keep.
EXPECTED: dict[type[LabgateError], int] = {
    LabgateError: 400,
    InvalidInput: 422,
    MalformedNumber: 422,
    InvalidLimit: 422,
    UnitError: 422,
    MethodVersionMismatch: 422,
    EnvelopeError: 422,
    MalformedDocument: 422,
    InvalidDocument: 422,
    PackRefused: 422,
    OutsideReplayWindow: 422,
    ChannelNotAllowed: 422,
    UnsafePackName: 422,
    NotFound: 404,
    PackNotClaimed: 404,
    Conflict: 409,
    InvalidTransition: 409,
    DuplicateKey: 409,
    CertificateIncomplete: 409,
    PackExists: 409,
    StaleSequence: 409,
    SealBroken: 409,
    TrailBroken: 409,
    Forbidden: 403,
    SegregationOfDuties: 403,
    SourceMismatch: 403,
    RouteMismatch: 403,
    Unauthenticated: 401,
    BadCredentials: 401,
    Throttled: 429,
    SchemasNotFound: 500,
    UnsupportedMessage: 500,
    DeliveryFailed: 502,
    SchemaBehind: 503,
    TransportUnavailable: 503,
    MalformedBody: 400,
    BodyTimeout: 408,
    BodyTooLarge: 413,
}


def _modules() -> Iterator[str]:
    for found in pkgutil.walk_packages([str(SOURCE)], "labgate."):
        if not found.name.startswith(SKIPPED):
            yield found.name


def _subclasses(root: type[LabgateError]) -> Iterator[type[LabgateError]]:
    for sub in root.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def every_error() -> list[type[LabgateError]]:
    """LabgateError and every subclass defined in labgate (outside SKIPPED)."""
    for name in _modules():
        importlib.import_module(name)
    found = {LabgateError, *_subclasses(LabgateError)}
    ours = [kind for kind in found if kind.__module__.startswith("labgate.")]
    return sorted(ours, key=lambda kind: f"{kind.__module__}.{kind.__qualname__}")


ERRORS = every_error()
NAMES = [f"{kind.__module__}.{kind.__qualname__}" for kind in ERRORS]


def test_the_walk_finds_errors_of_every_ring() -> None:
    rings = {kind.__module__.split(".")[1] for kind in ERRORS}
    assert {"domain", "compliance", "service", "adapters", "entrypoints"} <= rings
    assert set(EXPECTED) <= set(ERRORS)


@pytest.mark.parametrize("kind", ERRORS, ids=NAMES)
def test_no_error_class_carries_an_http_status(kind: type[LabgateError]) -> None:
    assert "status" not in vars(kind)


@pytest.mark.parametrize("kind", [k for k in ERRORS if k not in WRAPPERS], ids=str)
def test_every_error_is_answered_with_a_client_or_server_error(kind: type[LabgateError]) -> None:
    # The table reads the class alone, so an instance made without its constructor will do.
    assert 400 <= http_status(kind.__new__(kind)) <= 599


@pytest.mark.parametrize("kind", EXPECTED, ids=lambda kind: kind.__name__)
def test_each_kind_is_answered_as_clients_have_always_seen_it(kind: type[LabgateError]) -> None:
    assert http_status(kind.__new__(kind)) == EXPECTED[kind]


def test_the_table_lists_only_labgate_errors() -> None:
    assert all(issubclass(kind, LabgateError) for kind in http_errors.STATUS)
    assert all(400 <= status <= 599 for status in http_errors.STATUS.values())


def test_a_quarantined_message_is_answered_with_the_status_of_its_cause() -> None:
    assert http_status(ReceiptRefused(NotFound("No key."), 7)) == 404
    assert http_status(ReceiptRefused(StaleSequence("Seen."), 7, number_used=True)) == 409
    assert http_status(ReceiptRefused(EnvelopeError("Unsigned."), 7)) == 422


def test_a_framework_refusal_keeps_the_framework_status() -> None:
    refusal = FrameworkRefusal("No route.", reason="route.method_not_allowed", status_code=405)
    assert http_status(refusal) == 405


# The source check: outside the mapping module, no code reads `status` off a name that holds an
# error: one bound by `except ... as name`, or a parameter or variable annotated with exception
# classes only (`error: LabgateError | None`). It cannot know the type of a name bound otherwise
# (`if (error := run()) is not None`); there mypy --strict is the guard, since the attribute no
# longer exists on any error class (the walk above), and a read of it fails to type-check.
ERROR_NAMES = {kind.__name__ for kind in ERRORS} | {"Exception", "BaseException"}


def _only_errors(annotation: ast.expr | None) -> bool:
    """An annotation naming exception classes only, perhaps with None."""
    words = set(ast.unparse(annotation).split(" | ")) if annotation is not None else set()
    return bool(words) and words <= ERROR_NAMES | {"None"}


def _error_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    arguments = function.args
    parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    names = {p.arg for p in parameters if _only_errors(p.annotation)}
    for node in ast.walk(function):
        if isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        annotated = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        if annotated and _only_errors(node.annotation):
            names.add(node.target.id)
    return names


def _status_reads(tree: ast.Module) -> Iterator[int]:
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        names = _error_names(function)
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "status"
                and isinstance(node.value, ast.Name)
                and node.value.id in names
            ):
                yield node.lineno
            if (
                isinstance(node, ast.Call)
                and ast.unparse(node.func) in ("getattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in names
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == "status"
            ):
                yield node.lineno


def _status_assignments(tree: ast.Module) -> Iterator[int]:
    """`status = ...` in the body of an error class, or `self.status = ...` in its methods."""
    for cls in ast.walk(tree):
        if not (isinstance(cls, ast.ClassDef) and cls.name in ERROR_NAMES):
            continue
        for node in ast.walk(cls):
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if ast.unparse(target) in ("status", "self.status"):
                    yield node.lineno


def _sources() -> Iterator[tuple[str, ast.Module]]:
    skipped = {SOURCE / "adapters" / "store" / "migrations"}
    for path in sorted(SOURCE.rglob("*.py")):
        if not any(path.is_relative_to(folder) for folder in skipped):
            yield str(path.relative_to(SOURCE)), ast.parse(path.read_text(), str(path))


def test_the_source_check_sees_the_patterns_it_looks_for() -> None:
    read = ast.parse(
        "def f(error: LabgateError | None): return error.status\n"
        "def g():\n    try: pass\n    except NotFound as missing: return missing.status\n"
        "def h(error: Exception): return getattr(error, 'status', 0)\n"
        "def i(sample: Sample): return sample.status\n"
        "def j(result: Receipt | ReceiptRefused): return result.status\n"
        "def k():\n    refused: LabgateError | None = look()\n    return refused.status\n"
    )
    assert list(_status_reads(read)) == [1, 4, 5, 10]
    assigned = ast.parse(
        "class NotFound:\n    status = 404\n"
        "class Conflict:\n    def __init__(self): self.status = 409\n"
    )
    assert list(_status_assignments(assigned)) == [2, 4]


def test_no_code_but_the_mapping_reads_an_http_status_off_an_error() -> None:
    found = [
        f"{path}:{line}"
        for path, tree in _sources()
        if path != "entrypoints/api/http_errors.py"
        for line in [*_status_reads(tree), *_status_assignments(tree)]
    ]
    assert found == []
