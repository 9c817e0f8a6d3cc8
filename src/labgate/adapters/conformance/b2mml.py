"""labgate's own B2MML writer and the MESA V0701 schemas, for the conformance kit's B2MML run:
the documents are the ones the relay's B2MML webhook sends, validated as it validates them, and
the drifted copies are built from them with lxml."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree

from labgate.adapters.codecs.b2mml import NS, parse_xml, validate
from labgate.adapters.codecs.b2mml_messages import WRITTEN, to_b2mml

UNKNOWN = "XUnannounced"  # an element no B2MML V0701 type declares


class B2mmlDocuments:
    """The service's `Documents` port: to_b2mml, the XSDs, and copies they refuse."""

    def has_form(self, schema: str) -> bool:
        """labgate's relay writes `schema` as B2MML (others go as JSON envelopes)."""
        return schema in WRITTEN

    def write(
        self, schema: str, payload: dict[str, Any], *, message_id: str, sent_at: datetime
    ) -> bytes:
        """The relay's document: BODID the message id, CreationDateTime its sent_at."""
        return to_b2mml(schema, payload, message_id=message_id, sent_at=sent_at)

    def problems(self, document: bytes) -> list[str]:
        """Where the document breaks the V0701 XSD (empty: valid)."""
        return [str(problem) for problem in validate(document)]

    def drifted(self, document: bytes) -> list[tuple[str, bytes]]:
        """An unknown element in the ApplicationArea; the DataArea without its verb (required)."""
        unknown = parse_xml(document)
        area = unknown.find(f"{{{NS}}}ApplicationArea")
        assert area is not None  # labgate's writer always writes one
        etree.SubElement(area, f"{{{NS}}}{UNKNOWN}").text = "drift"
        missing = parse_xml(document)
        data = missing.find(f"{{{NS}}}DataArea")
        assert data is not None and len(data)  # and a verb in it
        verb = etree.QName(data[0]).localname
        data.remove(data[0])
        drifts = [(f"unknown element ApplicationArea/{UNKNOWN}", unknown),
                  (f"required element DataArea/{verb} left out", missing)]  # fmt: skip
        return [(why, _bytes(root)) for why, root in drifts]


def _bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
