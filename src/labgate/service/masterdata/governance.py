"""Two rules a direct import obeys. A specification version's author is an account: the one
that loads it, never a name typed into the document, so "the author never approves" holds. And
a record that shapes interfaced data (units, methods, tests, mappings, aliases) is changed only
through a change request of kind masterdata; importing such a record for the first time (a
site's first load, done under its IQ) stays allowed. A mapping or alias retired by such a
request is named by no import (it would come back silently)."""

from __future__ import annotations

from labgate.domain.change_masterdata import GOVERNED_SECTIONS
from labgate.domain.errors import Conflict, InvalidInput
from labgate.domain.masterdata import Alias, Mapping, SpecVersion
from labgate.service.masterdata.document import KEY_FIELDS
from labgate.service.masterdata.fields import Entry, MasterDataDocument
from labgate.service.masterdata.plan import Change
from labgate.service.unit_of_work import UnitOfWork

__all__ = ["bind_spec_authors", "refuse_governed_updates", "refuse_retired", "retired_in"]


def bind_spec_authors(uow: UnitOfWork, doc: MasterDataDocument, actor: str) -> None:
    """Each version's author: the stored one, else the importing account. A document may state
    it (export writes it) only as exactly that."""
    for entry in doc.specifications:
        version = entry.record
        stored = uow.records.get(SpecVersion, site=version.site,
                                 specification=version.specification,
                                 version=version.version)  # fmt: skip
        author = actor if stored is None else stored.author
        if version.author and version.author != author:
            whose = (
                f"a new version's author is the account that loads it ({actor})"
                if stored is None
                else f"{stored.ref} was written by {author}"
            )
            raise InvalidInput(
                f"{entry.path}.author is {version.author!r}, but {whose}; an author is an "
                "account, never a typed name. Leave author out, or sign in as its author.",
                reason="spec.author_not_account",
                field=f"{entry.path}.author",
            )
        version.author = author


def refuse_governed_updates(doc: MasterDataDocument, changes: list[Change]) -> None:
    """No import rewrites a stored unit, method, test, mapping or alias."""
    paths = {id(e.record): e.path for _, entries in doc.sections() for e in entries}
    for change in changes:
        if change.section in GOVERNED_SECTIONS and change.existing is not None:
            path = paths.get(id(change.new), change.section)
            raise Conflict(
                f"{path} would change a stored {change.section} record, which shapes interfaced "
                "data: raise a change request of kind masterdata (assessed, approved by QA with "
                "an e-signature, effective from its date). Import only creates such records.",
                reason="masterdata.change_request_required",
                field=path,
            )


def retired_in(uow: UnitOfWork, doc: MasterDataDocument) -> list[tuple[str, Mapping | Alias]]:
    """(path, stored record) of every mapping and alias the document names that is retired."""
    found: list[tuple[str, Mapping | Alias]] = []
    entries: list[Entry[Mapping] | Entry[Alias]] = [*doc.mappings, *doc.aliases]
    for entry in entries:
        record = entry.record
        key = {name: getattr(record, name) for name in KEY_FIELDS[type(record)]}
        stored = uow.records.get(type(record), site=doc.site.code, **key)
        if stored is not None and stored.retired_from is not None:
            found.append((entry.path, stored))
    return found


def refuse_retired(uow: UnitOfWork, doc: MasterDataDocument) -> None:
    """No import names a retired mapping or alias: only a change request changes it."""
    for path, stored in retired_in(uow, doc):
        at = "" if stored.retired_from is None else stored.retired_from.isoformat()
        raise Conflict(
            f"{path} names a {'mapping' if isinstance(stored, Mapping) else 'alias'} retired by "
            f"change request {stored.retired_by} from {at}; an import never brings a retired "
            "record back: raise a change request of kind masterdata.",
            reason="masterdata.change_request_required",
            field=path,
        )
