"""The shelf-life report's PDF as a reader sees it: each page rendered (PDFium), nothing past
A4's margins, the plot and every data point on the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labgate.adapters.reports.stability_report import report_content, report_document
from pdf_pages import pages

# Assay (%) of three batches at 0..18 months: enough rows to run onto a second page.
VALUES = {
    "B1": ("100.4", "100.0", "99.9", "99.6", "99.3", "99.1", "98.8"),
    "B2": ("100.6", "100.3", "100.0", "99.8", "99.5", "99.2", "99.0"),
    "B3": ("100.5", "100.2", "99.9", "99.7", "99.4", "99.1", "98.9"),
}
MONTHS = (0, 3, 6, 9, 12, 15, 18)


def trend() -> dict[str, Any]:
    points = [
        {"batch": batch, "study": f"STAB-{batch}-LONGTERM-25C-60RH", "time": str(months),
         "sample": f"S-{batch}-{months:02d}-WITH-A-LONG-SAMPLE-CODE", "value": value}
        for batch, values in VALUES.items()
        for months, value in zip(MONTHS, values, strict=True)
    ]  # fmt: skip
    series = {"condition": "25C/60%RH", "test_code": "ASSAY", "points": points,
              "criterion": {"lower": "95.0", "upper": None}}  # fmt: skip
    return {"site": "T1", "study": "STAB-000001", "product": "P1", "batch": "B1",
            "long_term_condition": "25C/60%RH", "series": [series]}  # fmt: skip


def test_the_shelf_life_report_stays_inside_a4(tmp_path: Path) -> None:
    content = report_content(trend())
    shown = pages(report_document(content, "pdf").data, tmp_path, "shelf-life")
    for page in shown:
        assert (round(page.width), round(page.height)) == (595, 842)
        assert page.outside(15) == [], f"page {page.number} runs off A4"
        assert page.inked_right < page.png_width * (1 - 15 / 210) + 2
    text = "".join(page.solid() for page in shown)
    for point in trend()["series"][0]["points"]:
        assert point["sample"] in text
    assert content["content_sha256"] in text
