"""The REST LIMS connector's mapping file: the documented example holds, faults are refused
with a sentence naming the field, the registration body is filled from the sample request, and
a LIMS result record is mapped without inventing or mending anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from labgate.adapters.connectors.rest_lims import lims_headers
from labgate.adapters.connectors.rest_lims_mapping import (
    MISSING,
    MappingError,
    RestLimsMapping,
    lookup,
    parse_mapping,
    render,
)
from labgate.adapters.connectors.rest_lims_records import Unmappable, map_record

EXAMPLE = (Path(__file__).parents[2] / "docs" / "examples" / "rest-lims-mapping.yaml").read_text()
REQUEST = {
    "site": "PLT1",
    "sample_id": "S-000042",
    "mes_request_id": "MES-7",
    "tests": [
        {"test_code": "ASSAY", "method": "HPLC-1", "method_version": "2"},
        {"test_code": "WATER", "method": "KF-1", "method_version": "1"},
    ],
}
RECORD = {
    "ResultId": "RR-00007",
    "SampleId": "LW-000001",
    "Analysis": "ASSAY",
    "Value": "98.10",
    "Units": "%",
    "MethodVersion": "2",
    "EnteredBy": "jdoe",
    "Status": "A",
    "ApprovedBy": "asmith",
    "ApprovedOn": "2026-11-25T08:00:00Z",
}


def example(**changes: Any) -> dict[str, Any]:
    """The documented example, with some sections replaced."""
    document: dict[str, Any] = yaml.safe_load(EXAMPLE)
    return document | changes


def refusal(document: Any) -> str:
    with pytest.raises(MappingError) as caught:
        parse_mapping(yaml.safe_dump(document))
    return str(caught.value)


def test_the_documented_example_is_a_valid_mapping() -> None:
    mapping = parse_mapping(EXAMPLE)
    assert mapping.registration.sample_id == "Sample.Id"
    assert mapping.results.fields["test_code"].path == "Analysis"  # the short form
    assert mapping.results.fields["lims_status"].values == {"A": "approved", "P": "preliminary"}


@pytest.mark.parametrize(
    ("change", "where", "words"),
    [
        ({"registrations": {}}, "registrations", "Extra inputs are not permitted"),
        ({"base_url": "lims.example.com"}, "base_url", "should match pattern"),
        ({"site": None}, "site", "valid string"),
    ],
)
def test_top_level_faults_name_the_field(change: dict[str, Any], where: str, words: str) -> None:
    message = refusal(example(**change))
    assert message.startswith(f"The mapping is refused at {where}: ")
    assert words in message


def test_a_result_member_labgate_does_not_have_is_refused() -> None:
    document = example()
    document["results"]["fields"]["colour"] = "Colour"
    message = refusal(document)
    assert "at results.fields: 'colour' is not a member of labgate.result.v1" in message


def test_a_required_result_member_must_be_mapped() -> None:
    document = example()
    del document["results"]["fields"]["analyst"]
    assert "at results.fields: map 'analyst': labgate.result.v1 requires it" in refusal(document)


def test_a_rule_takes_a_path_or_a_value_not_both() -> None:
    document = example()
    document["results"]["fields"]["analyst"] = {"path": "EnteredBy", "value": "lims"}
    assert "results.fields.analyst: give either path" in refusal(document)


def test_a_placeholder_the_request_does_not_have_is_refused() -> None:
    document = example()
    document["registration"]["body"]["Product"] = "{product}"
    message = refusal(document)
    assert "at registration.body: body.Product names {product}" in message
    assert "{tests[].test_code}" in message  # what may be used instead


def test_a_method_other_than_post_or_put_is_refused() -> None:
    document = example()
    document["registration"]["method"] = "get"
    assert "registration.method: the method is POST or PUT" in refusal(document)


def test_yaml_that_is_not_a_mapping_is_refused() -> None:
    assert "is refused at (the whole file)" in refusal(["a", "list"])
    with pytest.raises(MappingError, match="is not YAML"):
        parse_mapping("base_url: [unclosed")


@pytest.mark.requirement("URS-TX-002")
def test_the_registration_body_is_filled_from_the_request() -> None:
    body = render(parse_mapping(EXAMPLE).registration.body, REQUEST)
    assert body == {
        "SampleName": "S-000042",
        "ExternalRef": "MES-7",
        "Site": "PLT1",
        "Analyses": ["ASSAY", "WATER"],
        "MethodVersions": ["2", "1"],
        "Comment": "Requested by labgate for PLT1/S-000042",
    }


def test_render_keeps_structure_and_writes_lists_into_text() -> None:
    template = {"Tests": [{"Codes": "{tests[].test_code}"}], "Note": "{tests[].method} x", "N": 3}
    rendered = render(template, {**REQUEST, "mes_request_id": None})
    assert rendered == {"Tests": [{"Codes": ["ASSAY", "WATER"]}], "Note": "HPLC-1,KF-1 x", "N": 3}
    assert render("ref {mes_request_id}.", {**REQUEST, "mes_request_id": None}) == "ref ."


def test_lookup_follows_dotted_paths_and_list_indexes() -> None:
    document = {"Sample": {"Id": "LW-1"}, "Results": [{"Id": "a"}]}
    assert lookup(document, "Sample.Id") == "LW-1"
    assert lookup(document, "Results.0.Id") == "a"
    assert lookup(document, "Results.1.Id") is MISSING
    assert lookup(document, "Sample.Id.More") is MISSING


def rules(**changes: Any) -> Any:
    mapping: RestLimsMapping = parse_mapping(EXAMPLE)
    return mapping.results.model_copy(update=changes)


def test_a_record_maps_to_a_result_payload() -> None:
    mapped = map_record(rules(), RECORD)
    assert (mapped.key, mapped.lims_sample) == ("RR-00007", "LW-000001")
    assert mapped.payload == {
        "test_code": "ASSAY",
        "value": "98.10",
        "unit": "%",
        "method_version": "2",
        "analyst": "jdoe",
        "lims_status": "approved",
        "reviewer": "asmith",
        "approved_at": "2026-11-25T08:00:00Z",
    }


def test_nothing_is_invented_or_mended() -> None:
    record = {k: v for k, v in RECORD.items() if k != "EnteredBy"} | {"Status": "Q"}
    mapped = map_record(rules(), record)
    assert "analyst" not in mapped.payload  # left out: labgate refuses and names it
    assert mapped.payload["lims_status"] == "Q"  # an unmapped code passes as it is


def test_a_constant_stands_for_a_member_the_lims_does_not_report() -> None:
    mapping = yaml.safe_load(EXAMPLE)
    mapping["results"]["fields"]["analyst"] = {"value": "lims-import"}
    mapped = map_record(parse_mapping(yaml.safe_dump(mapping)).results, RECORD)
    assert mapped.payload["analyst"] == "lims-import"


def test_a_record_without_an_id_cannot_be_mapped() -> None:
    with pytest.raises(Unmappable, match="no id at 'ResultId'"):
        map_record(rules(), {k: v for k, v in RECORD.items() if k != "ResultId"})
    with pytest.raises(Unmappable, match="not an object"):
        map_record(rules(), ["RR-1"])


def test_a_record_version_makes_an_amended_record_a_new_message() -> None:
    versioned = rules(record_version="Rev")
    assert map_record(versioned, RECORD | {"Rev": "2"}).key == "RR-00007@2"
    assert map_record(versioned, RECORD).key == "RR-00007@"


def test_the_auth_header_value_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = parse_mapping(EXAMPLE)
    monkeypatch.delenv("LIMS_TOKEN", raising=False)
    with pytest.raises(MappingError, match=r"Set the environment variable LIMS_TOKEN \(auth.env"):
        lims_headers(mapping)
    monkeypatch.setenv("LIMS_TOKEN", "s3cret")
    assert lims_headers(mapping) == {"X-LIMS-Token": "s3cret"}
