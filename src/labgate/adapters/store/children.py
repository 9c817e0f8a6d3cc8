"""A sample's planned tests and results, mapped by hand.

They are plain dataclasses, not ORM-mapped. A run of results is hundreds of children, and the
ORM's per-object instrumentation (about 30 µs to construct a mapped Result) and its
one-row-at-a-time INSERT ... RETURNING on SQLite cost several times the rows' own writing.
Samples stay ORM-mapped. Whenever a query loads samples, their children are read with one
query per table, and a snapshot of each child is kept; writing the children (before a commit,
or on an explicit flush) sends what changed: new results in one multi-row INSERT, new planned
tests with their ids returned, changed ones in one executemany UPDATE per table.

Children are never removed (GxP records), so a child keeps its place in its list: the place is
how a child is matched to its snapshot. Results are updated by their natural key (sample, code),
which is unique; planned tests by id, since a sample may plan one test code twice."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session

from labgate.adapters.store import tables as t
from labgate.domain.samples import PlannedTest, Result, Sample

_KEY = "labgate.children"
_ARRIVALS = "labgate.children.arrivals"
_WRITTEN = "labgate.children.written"
_CHUNK = 500  # sample ids per IN list
TEST_FIELDS = tuple(f.name for f in fields(PlannedTest))
RESULT_FIELDS = tuple(f.name for f in fields(Result))
_test_values = attrgetter(*TEST_FIELDS)
_result_values = attrgetter(*RESULT_FIELDS)

_insert_test = insert(t.planned_tests).returning(t.planned_tests.c.id, sort_by_parameter_order=True)


@dataclass
class _Stored:
    """What the database holds of one sample's children: (id, child, values) per planned test,
    (child, values) per result, in list order."""

    sample: Sample
    tests: list[tuple[int, PlannedTest, tuple[Any, ...]]] = field(default_factory=list)
    results: list[tuple[Result, tuple[Any, ...]]] = field(default_factory=list)


class _Results(list[Result]):
    """A sample's results that note, across the session's samples, the order results are added
    in: they are inserted in that order, so result ids follow arrival as they always have."""

    def __init__(self, results: Iterable[Result], arrivals: list[Result]) -> None:
        super().__init__(results)
        self._arrivals = arrivals

    def append(self, result: Result) -> None:
        """Add a result (the aggregate only ever appends)."""
        super().append(result)
        self._arrivals.append(result)


class ChildrenRemoved(RuntimeError):
    """A sample lost or reordered children it had: the aggregate never does that."""


def _registry(session: Session) -> dict[int, _Stored]:
    found: dict[int, _Stored] = session.info.setdefault(_KEY, {})
    return found


def _arrivals(session: Session) -> list[Result]:
    found: list[Result] = session.info.setdefault(_ARRIVALS, [])
    return found


def sample_id(sample: Sample) -> int:
    """The store's id of a sample that has been flushed."""
    return int(sample.id)  # type: ignore[attr-defined]


def fill(session: Session, samples: Iterable[Sample]) -> None:
    """Give freshly loaded samples their children, one query per table."""
    todo = {sample_id(s): s for s in samples if "tests" not in vars(s)}
    if not todo:
        return
    registry, arrivals = _registry(session), _arrivals(session)
    for sample in todo.values():
        sample.tests, sample.results = [], _Results([], arrivals)
        registry[id(sample)] = _Stored(sample)
    connection = session.connection()
    for row in _children_of(connection, t.planned_tests, list(todo)):
        test = PlannedTest(*(row[name] for name in TEST_FIELDS))
        todo[row["sample_id"]].tests.append(test)
        registry[id(todo[row["sample_id"]])].tests.append((row["id"], test, _test_values(test)))
    for row in _children_of(connection, t.results, list(todo)):
        result = Result(*(row[name] for name in RESULT_FIELDS))
        list.append(todo[row["sample_id"]].results, result)  # loaded, not arrived
        registry[id(todo[row["sample_id"]])].results.append((result, _result_values(result)))


def _children_of(connection: Connection, table: Any, ids: Sequence[int]) -> Iterable[Any]:
    for start in range(0, len(ids), _CHUNK):
        chunk = {"c_ids": list(ids[start : start + _CHUNK])}
        yield from connection.execute(_children_query(table), chunk).mappings()


@functools.cache
def _children_query(table: Any) -> Any:
    """The children of a list of samples, in id order (built once: building costs as much as
    running it)."""
    in_list = table.c.sample_id.in_(bindparam("c_ids", expanding=True))
    return select(table).where(in_list).order_by(table.c.id)


def write_children(session: Session) -> None:
    """Send the children's changes since they were loaded (or last written) to the database."""
    session.flush()  # new samples get their ids first
    registry = session.info.get(_KEY)
    if not registry:
        return
    new_tests: list[tuple[_Stored, PlannedTest, dict[str, Any]]] = []
    changed_tests: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    new_results: list[tuple[Result, dict[str, Any]]] = []
    changed_results: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for stored in registry.values():
        sample = stored.sample
        if "tests" not in vars(sample):
            continue
        owner = sample_id(sample)
        _check_kept(sample, stored)
        for index, test in enumerate(sample.tests):
            values = _test_values(test)
            if index >= len(stored.tests):
                row = dict(zip(TEST_FIELDS, values, strict=True), sample_id=owner)
                new_tests.append((stored, test, row))
                continue
            test_id, _, before = stored.tests[index]
            if changed := _changed(TEST_FIELDS, before, values):
                changed_tests.append((changed, {**_pick(changed, values), "b_id": test_id}))
                stored.tests[index] = (test_id, test, values)
        for index, result in enumerate(sample.results):
            values = _result_values(result)
            if index >= len(stored.results):
                row = dict(zip(RESULT_FIELDS, values, strict=True), sample_id=owner)
                new_results.append((result, row))
                stored.results.append((result, values))
                continue
            before = stored.results[index][1]
            if changed := _changed(RESULT_FIELDS, before, values):
                key = {"b_sample": owner, "b_code": before[0]}
                changed_results.append((changed, {**_pick(changed, values), **key}))
                stored.results[index] = (result, values)
    arrived = {id(result): n for n, result in enumerate(_arrivals(session))}
    new_results.sort(key=lambda pair: arrived.get(id(pair[0]), len(arrived)))  # stable
    _arrivals(session).clear()
    rows = [row for _, row in new_results]
    _send(session.connection(), new_tests, changed_tests, rows, changed_results)


def _changed(
    names: tuple[str, ...], before: tuple[Any, ...], now: tuple[Any, ...]
) -> tuple[str, ...]:
    """The fields whose values differ; Decimals by their digits too (98.1 is not 98.10)."""
    if before == now and not any(type(v) is Decimal for v in now):
        return ()
    return tuple(n for n, a, b in zip(names, before, now, strict=True) if not _same(a, b))


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or a != b:
        return False
    return type(a) is not Decimal or str(a) == str(b)


def _pick(names: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    fields = TEST_FIELDS if len(values) == len(TEST_FIELDS) else RESULT_FIELDS
    chosen = set(names)
    return {n: v for n, v in zip(fields, values, strict=True) if n in chosen}


def _check_kept(sample: Sample, stored: _Stored) -> None:
    kept = all(a is b for (_, a, _), b in zip(stored.tests, sample.tests, strict=False))
    kept = kept and all(a is b for (a, _), b in zip(stored.results, sample.results, strict=False))
    if not kept or len(sample.tests) < len(stored.tests):
        raise ChildrenRemoved(f"Sample {sample.code} lost or reordered its planned tests.")
    if len(sample.results) < len(stored.results):
        raise ChildrenRemoved(f"Sample {sample.code} lost results; results are never removed.")


def _send(
    connection: Connection,
    new_tests: list[tuple[_Stored, PlannedTest, dict[str, Any]]],
    changed_tests: list[tuple[tuple[str, ...], dict[str, Any]]],
    new_results: list[dict[str, Any]],
    changed_results: list[tuple[tuple[str, ...], dict[str, Any]]],
) -> None:
    if new_tests:
        ids = connection.execute(_insert_test, [row for _, _, row in new_tests]).scalars()
        for (stored, test, _), test_id in zip(new_tests, list(ids), strict=True):
            stored.tests.append((test_id, test, _test_values(test)))
    if new_results:
        connection.execute(insert(t.results), new_results)
    # One executemany per set of changed columns: mostly just the status.
    for table, changed in ((t.planned_tests, changed_tests), (t.results, changed_results)):
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for columns, row in changed:
            by_columns.setdefault(columns, []).append(row)
        for columns, rows in by_columns.items():
            connection.execute(_update(table, columns), rows)


@functools.cache
def _update(table: Any, columns: tuple[str, ...]) -> Any:
    """UPDATE of these columns of one child, by id (tests) or by (sample, code) (results)."""
    if table is t.planned_tests:
        where = [table.c.id == bindparam("b_id")]
    else:
        where = [table.c.sample_id == bindparam("b_sample"), table.c.code == bindparam("b_code")]
    return update(table).where(*where).values({name: bindparam(name) for name in columns})


def note_new_samples(session: Session, _context: object, _instances: object) -> None:
    """Before a flush: remember new samples, whose children are all to be written."""
    registry, arrivals = _registry(session), _arrivals(session)
    for new in session.new:
        if isinstance(new, Sample) and id(new) not in registry:
            registry[id(new)] = _Stored(new)
            arrivals.extend(new.results)
            new.results = _Results(new.results, arrivals)


def fill_loaded(state: ORMExecuteState) -> Any:
    """After a query that loads samples: give them their children (a do_orm_execute hook)."""
    if not state.is_select or not any(m.class_ is Sample for m in state.all_mappers):
        return None
    frozen = state.invoke_statement().freeze()
    # Rows are tuples, or the objects themselves when the result was made for one entity.
    rows = (row if isinstance(row, tuple | Row) else (row,) for row in frozen.data)
    loaded = [value for row in rows for value in row if isinstance(value, Sample)]
    fill(state.session, loaded)
    return frozen()


def write_before_commit(session: Session) -> None:
    """Children written before any commit of the session, whoever commits it (unless the unit
    of work has just written them: see `written`)."""
    if session.info.pop(_WRITTEN, False):
        return
    if session.info.get(_KEY):
        write_children(session)


def written(session: Session) -> None:
    """The children were written just now and nothing changes before the commit that follows:
    the commit need not compare them again."""
    session.info[_WRITTEN] = True
