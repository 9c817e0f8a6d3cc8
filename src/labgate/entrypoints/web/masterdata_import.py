"""Loading a master-data document: pasted or uploaded YAML, first previewed (the import's own plan
of it through PreviewMasterDataImport: every record it would create or update and the fields it
would write, nothing stored), then applied with a change-control reason through ImportMasterData,
the command POST /api/v1/masterdata/import sends, carrying the preview's hash so that it writes
exactly what was previewed or nothing. A refused document shows the fault the import
names: its path in the document, the rule and the reason code."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from labgate.compliance.access import Permission
from labgate.domain.commands import ImportMasterData, PreviewMasterDataImport
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import masterdata_compare as diff
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.masterdata_tables import section_links
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix
from labgate.service.handlers.masterdata import ImportPreview, PlannedChange

router = APIRouter()
Managing = Annotated[Visitor, Depends(allowed(Permission.MANAGE_MASTERDATA))]
MAX_BYTES = 1_000_000  # a whole plant's master data is a few hundred kilobytes
MAX_DEPTH = 32  # a procedure's elements, the deepest part of a document, are 6 levels down
# libyaml where it is installed: its scanner stops a bracket bomb in microseconds where the
# pure-Python one takes seconds.
LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _refuse(message: str, reason: str) -> InvalidInput:
    return InvalidInput(message, reason=reason, field="document")


def read_yaml(text: str) -> dict[str, Any]:
    """The document as a mapping. Its events are checked before it is built: YAML aliases are
    refused (one line could stand for millions of records), and so is nesting deeper than master
    data goes (building it would take the server's time, not the reader's)."""
    if len(text.encode()) > MAX_BYTES:
        raise _refuse(f"document: larger than {MAX_BYTES} bytes.", "masterdata.too_large")
    if not text.strip():
        raise _refuse("document: paste a YAML document or choose a file.", "masterdata.required")
    try:
        _check_events(text)
        document = yaml.load(text, Loader=LOADER)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(error, "problem", None) or "not YAML"
        raise _refuse(
            f"document: not valid YAML{at}: {problem}.", "masterdata.yaml_invalid"
        ) from None
    if not isinstance(document, dict):
        raise _refuse("document: the top level must be a mapping with a site and its sections.",
                      "masterdata.bad_type")  # fmt: skip
    return document


def _check_events(text: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, yaml.AliasEvent):
            raise _refuse("document: YAML aliases (*name) are not accepted; write each record "
                          "out.", "masterdata.yaml_alias")  # fmt: skip
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _refuse(f"document: nested deeper than {MAX_DEPTH} levels; master data "
                              "is not.", "masterdata.too_deep")  # fmt: skip
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


async def posted_document(request: Request, who: Visitor) -> tuple[dict[str, str], str]:
    """The form (CSRF checked) and the document's text: the uploaded file, else the pasted text."""
    parsed = await request.form()
    try:
        form = await posted_form(request, who)
        upload = parsed.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return form, form.get("document", "")
        raw = await upload.read(MAX_BYTES + 1)
    finally:
        await parsed.close()  # the upload's spooled file, not left for the collector
    try:
        return form, raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("file: not UTF-8 text.", "masterdata.not_text") from None


def import_values(request: Request, who: Visitor, site: str) -> dict[str, Any]:
    """What the import page and its preview show around the document."""
    return {
        **frame(request, who, site_view(request, site), "masterdata"),
        **section_links(request, who, site, "import"),
        "action": f"{prefix(request)}/sites/{site}/masterdata/import",
        "text": "",
        "refused": None,
        "preview": None,
        "done": False,
    }


def shown_change(change: PlannedChange) -> dict[str, Any]:
    """A planned change as the preview lists it; a specification's limit lines compared."""
    fields = {f.name: f for f in change.fields}
    lines, plans = fields.pop("limits", None), fields.pop("plans", None)
    compared = [] if lines is None else diff.limit_lines(lines.before or [], lines.after or [])
    planned = [] if plans is None else diff.sampling_plans(plans.before or [], plans.after or [])
    shown = [
        {"name": f.name, "before": None if f.before is None else _text(f.before),
         "after": _text(f.after)}
        for f in fields.values()
    ]  # fmt: skip
    return {"change": change, "fields": shown, "lines": compared, "plans": planned}


def _text(value: Any) -> str:
    """A field's value as the audit trail holds it (numbers are text there: as written)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@router.get("/sites/{site}/masterdata/import", name="masterdata_import")
def import_page(request: Request, site: str, who: Managing, done: bool = False) -> Response:
    """The form: paste or upload; `done` after an import."""
    values = import_values(request, who, site)
    values["done"] = done
    return page(request, "masterdata_import.html", values)


async def _refused(request: Request, values: dict[str, Any], error: LabgateError) -> Response:
    await audit(request, error)
    values["refused"] = error
    return page(request, "masterdata_import.html", values, status=http_status(error))


@router.post("/sites/{site}/masterdata/import/preview", name="masterdata_preview")
async def preview(request: Request, site: str, who: Managing) -> Response:
    """What the import would change now; nothing written."""
    values = await run_in_threadpool(import_values, request, who, site)
    try:
        _, text = await posted_document(request, who)
        values["text"] = text
        document = read_yaml(text)
        command = PreviewMasterDataImport(context(request, who.account.username), document)
        planned: ImportPreview = await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        return await _refused(request, values, error)
    values["preview"] = {
        "changes": [shown_change(c) for c in planned.changes],
        "plan_hash": planned.plan_hash,
        "site": str(document["site"]["code"]),  # parsed: the import found its site
        "sections": {
            name: counts
            for name, counts in planned.summary.sections.items()
            if counts.created or counts.updated or counts.unchanged
        },
    }
    return page(request, "masterdata_import.html", values)


@router.post("/sites/{site}/masterdata/import", name="masterdata_apply")
async def apply(request: Request, site: str, who: Managing) -> Response:
    """Apply the previewed document with its change-control reason (post/redirect/get)."""
    values = await run_in_threadpool(import_values, request, who, site)
    try:
        form, text = await posted_document(request, who)
        values["text"] = text
        ctx, seen = context(request, who.account.username), form.get("seen_plan") or None
        command = ImportMasterData(ctx, read_yaml(text), form.get("reason", ""), seen)
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        return await _refused(request, values, error)
    return RedirectResponse(f"{values['action']}?done=true", status_code=303)
