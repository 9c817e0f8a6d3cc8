"""A PDF as a reader sees it: each page rendered to PNG (pypdfium2, the PDFium engine of
Chromium) with its text and where each character lies, to find content outside the page box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium

MM = 72 / 25.4  # PDF points per millimetre


@dataclass(frozen=True)
class Page:
    """One rendered page: its size in points, text, character boxes and the PNG written."""

    number: int
    width: float
    height: float
    text: str
    boxes: list[tuple[str, float, float, float, float]]  # char, left, bottom, right, top
    png: Path
    inked_right: int  # right-most column of the PNG with ink, in pixels
    png_width: int

    def outside(self, margin_mm: float) -> list[str]:
        """Characters that reach past the page's margins, with where, e.g. `'X' right 612.3`."""
        inset = margin_mm * MM - 1  # a point of slack for glyph side bearings
        found = []
        for char, left, bottom, right, top in self.boxes:
            if char.isspace():
                continue
            if left < inset or right > self.width - inset or bottom < 0 or top > self.height:
                found.append(f"{char!r} at x {left:.1f}..{right:.1f}, y {bottom:.1f}..{top:.1f}")
        return found

    def flat(self) -> str:
        """The page's text with every run of whitespace as one space (lines join up)."""
        return " ".join(self.text.split())

    def solid(self) -> str:
        """The page's text without whitespace: a line may wrap after a slash or hyphen."""
        return "".join(self.text.split())


def pages(document: bytes, into: Path, name: str) -> list[Page]:
    """Every page of `document`, rendered to `into/name-N.png` at 100 dpi."""
    pdf = pdfium.PdfDocument(document)
    shown = []
    for index in range(len(pdf)):
        page = pdf[index]
        width, height = page.get_size()
        text = page.get_textpage()
        boxes = []
        for i in range(text.count_chars()):
            char = text.get_text_range(i, 1)
            boxes.append((char, *text.get_charbox(i)))
        image = page.render(scale=100 / 72).to_pil().convert("L")
        png = into / f"{name}-{index + 1}.png"
        image.save(png)
        shown.append(
            Page(
                index + 1,
                width,
                height,
                text.get_text_range(),
                boxes,
                png,
                _inked_right(image),
                image.width,
            )
        )
    return shown


def _inked_right(image: object) -> int:
    """The right-most pixel column darker than paper (the page is white, text near black)."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    inverted = image.point(lambda v: 255 if v < 200 else 0)
    box = inverted.getbbox()
    return 0 if box is None else box[2]
