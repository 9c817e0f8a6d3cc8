"""The mapping file of the generic REST LIMS connector: where the LIMS is, how a sample is
registered there, how results are pulled, and how a LIMS result record becomes the payload of a
`labgate.result.v1` message. The file is YAML, checked whole at start-up; a fault is refused with
a sentence naming the field (docs/connectors.md documents the format)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labgate.service.messages import ResultV1

# What a registration body template may name: the members of labgate.lims_sample_request.v1.
REQUEST_FIELDS = frozenset({"site", "sample_id", "mes_request_id"})
TEST_FIELDS = frozenset({"test_code", "method", "method_version"})
PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)(?:\[\]\.([A-Za-z_]+))?\}")
# The result members the LIMS fills; `sample` comes from the LIMS sample id, through the state.
RESULT_FIELDS = frozenset(ResultV1.model_fields) - {"sample"}
REQUIRED_RESULT_FIELDS = frozenset(
    {"test_code", "value", "method_version", "analyst", "lims_status"}
)
MISSING = object()


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the field and the fix."""


class Strict(BaseModel):
    """A section of the file: unknown keys are refused, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(Strict):
    """A header sent with every LIMS call; its value comes from the environment, never the file."""

    header: str = Field(min_length=1)
    env: str = Field(min_length=1, description="Environment variable holding the header's value.")
    prefix: str = ""  # e.g. "Bearer "


class Registration(Strict):
    """How to register a sample: method, path, body template, and where the LIMS's id comes back."""

    method: str = "POST"
    path: str = Field(min_length=1)
    body: dict[str, Any]
    sample_id: str = Field(min_length=1, description="Dotted path of the LIMS sample id.")

    @field_validator("method")
    @classmethod
    def _method(cls, method: str) -> str:
        if method.upper() not in ("POST", "PUT"):
            raise ValueError("the method is POST or PUT")
        return method.upper()

    @field_validator("body")
    @classmethod
    def _placeholders(cls, body: dict[str, Any]) -> dict[str, Any]:
        for where, text in _strings(body, "body"):
            for name, member in PLACEHOLDER.findall(text):
                if not _known(name, member):
                    raise ValueError(
                        f"{where} names {{{name}{'[].' + member if member else ''}}}, which a "
                        f"sample request does not have; use {_placeholder_list()}"
                    )
        return body


class Rule(Strict):
    """One result member: read at a dotted `path` of the record (optionally through a value map),
    or a constant `value`."""

    path: str | None = None
    value: str | None = None
    values: dict[str, str] | None = None  # LIMS code -> labgate's word; others pass as they are

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.path is None) == (self.value is None):
            raise ValueError("give either path (read from the record) or value (a constant)")
        return self


class Results(Strict):
    """How results are pulled: a GET with a cursor, the list and next cursor in the answer."""

    path: str = Field(min_length=1)
    cursor_param: str = Field(min_length=1)
    initial_cursor: str | None = None  # None: the first poll sends no cursor
    records: str = Field(min_length=1, description="Dotted path of the record list.")
    next_cursor: str = Field(min_length=1, description="Dotted path of the cursor to keep.")
    record_id: str = Field(min_length=1, description="Dotted path of the record's own id.")
    record_version: str | None = None  # a record amended under the same id is a new message
    lims_sample: str = Field(min_length=1, description="Dotted path of the LIMS sample id.")
    interval_seconds: float = Field(5.0, gt=0)
    fields: dict[str, Rule]

    @field_validator("fields", mode="before")
    @classmethod
    def _short_form(cls, fields: Any) -> Any:
        """`test_code: Analysis` is short for `test_code: {path: Analysis}`."""
        if isinstance(fields, dict):
            return {k: {"path": v} if isinstance(v, str) else v for k, v in fields.items()}
        return fields

    @field_validator("fields")
    @classmethod
    def _members(cls, fields: dict[str, Rule]) -> dict[str, Rule]:
        unknown = sorted(set(fields) - RESULT_FIELDS)
        if unknown:
            raise ValueError(
                f"{unknown[0]!r} is not a member of labgate.result.v1; map some of "
                f"{', '.join(sorted(RESULT_FIELDS))} (the sample comes from lims_sample)"
            )
        missing = sorted(REQUIRED_RESULT_FIELDS - set(fields))
        if missing:
            raise ValueError(f"map {missing[0]!r}: labgate.result.v1 requires it")
        return fields


class RestLimsMapping(Strict):
    """The whole mapping file."""

    base_url: str = Field(pattern=r"^https?://[^\s]+$")
    site: str = Field(min_length=1, description="Site of a LIMS sample the connector never saw.")
    auth: Auth | None = None
    timeout_seconds: float = Field(30.0, gt=0)
    registration: Registration
    results: Results


def load_mapping(path: Path) -> RestLimsMapping:
    """The mapping file at `path`, checked; MappingError with a sentence naming the field."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MappingError(f"Cannot read the mapping file {path}: {error}.") from None
    return parse_mapping(text, f"The mapping file {path}")


def parse_mapping(text: str, origin: str = "The mapping") -> RestLimsMapping:
    """A mapping from its YAML text, checked; the first fault refused by field and rule."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise MappingError(f"{origin} is not YAML: {error}.") from None
    try:
        return RestLimsMapping.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(the whole file)"
        detail = first["msg"].removeprefix("Value error, ")
        raise MappingError(f"{origin} is refused at {where}: {detail}.") from None


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path (`Sample.Id`, `Results.0`); MISSING where there is none."""
    here = document
    for part in path.split("."):
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        else:
            return MISSING
    return here


def render(template: Any, request: dict[str, Any]) -> Any:
    """The registration body: the template with each `{placeholder}` filled from the request.
    A string that is one placeholder takes the value as it is (a list for `{tests[].x}`);
    placeholders inside longer text are written into it (lists joined with commas)."""
    if isinstance(template, dict):
        return {key: render(value, request) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, request) for value in template]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return _fill(request, *whole.groups())
    return PLACEHOLDER.sub(lambda m: _text(_fill(request, *m.groups())), template)


def _fill(request: dict[str, Any], name: str, member: str | None) -> Any:
    if member:
        return [test.get(member) for test in request.get(name) or []]
    return request.get(name)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return "" if value is None else str(value)


def _known(name: str, member: str) -> bool:
    return name == "tests" and member in TEST_FIELDS if member else name in REQUEST_FIELDS


def _placeholder_list() -> str:
    names = sorted(REQUEST_FIELDS) + [f"tests[].{m}" for m in sorted(TEST_FIELDS)]
    return ", ".join(f"{{{n}}}" for n in names)


def _strings(value: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [s for key, v in value.items() for s in _strings(v, f"{where}.{key}")]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{where}.{i}")]
    return [(where, value)] if isinstance(value, str) else []
