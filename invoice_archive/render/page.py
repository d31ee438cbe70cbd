"""A small display list shared by every rendition: pages of text, paths and images.

Coordinates are millimetres with the origin at the top-left corner of the page
and y growing downwards (the OFD convention).  Each item carries a ``matrix``
``(a, b, c, d, e, f)`` that maps its own coordinates to page coordinates
(``x' = a*x + c*y + e``, ``y' = b*x + d*y + f``), so an OFD object's CTM and
Boundary are kept as they are.  The SVG and PDF writers
(:mod:`invoice_archive.render.svg`, :mod:`invoice_archive.render.pdf`) only
read this list; the OFD and invoice-layout front ends only build it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
Color = tuple[int, int, int]
BLACK: Color = (0, 0, 0)


def multiply(first: Matrix, then: Matrix) -> Matrix:
    """The matrix applying ``first`` and then ``then``."""
    a1, b1, c1, d1, e1, f1 = first
    a2, b2, c2, d2, e2, f2 = then
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2,
            c1 * a2 + d1 * c2, c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2, e1 * b2 + f1 * d2 + f2)


def translate(dx: float, dy: float) -> Matrix:
    return (1.0, 0.0, 0.0, 1.0, dx, dy)


def apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def scale_of(m: Matrix) -> float:
    """The vertical scale factor of a matrix (for font sizes)."""
    a, b, c, d, _e, _f = m
    return max(abs(a * d - b * c), 1e-9) ** 0.5


@dataclass
class Text:
    """A run of glyphs.  ``xs``/``ys`` are per-glyph positions in the item's own
    coordinates (baseline); ``size`` is the font size in the same units."""

    text: str
    xs: list[float]
    ys: list[float]
    size: float
    font: str = "宋体"
    color: Color = BLACK
    bold: bool = False
    matrix: Matrix = IDENTITY
    object_id: str | None = None
    anchor: str = "start"  # start | middle | end (only for single-position runs)


@dataclass
class Path:
    """``ops``: ("M", x, y) ("L", x, y) ("C", x1, y1, x2, y2, x, y) ("Q", x1, y1, x, y) ("Z",)."""

    ops: list[tuple]
    stroke: Color | None = BLACK
    fill: Color | None = None
    line_width: float = 0.353
    matrix: Matrix = IDENTITY


@dataclass
class Image:
    """A raster image drawn into the unit square of ``matrix`` (as OFD does)."""

    data: bytes
    mime: str
    matrix: Matrix = IDENTITY
    label: str | None = None


Item = Union[Text, Path, Image]


@dataclass
class Page:
    width: float
    height: float
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be drawn (Chinese)


def sniff_image(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data.startswith(b"BM"):
        return "image/bmp"
    return None


def rect(x: float, y: float, w: float, h: float) -> list[tuple]:
    return [("M", x, y), ("L", x + w, y), ("L", x + w, y + h), ("L", x, y + h), ("Z",)]


def line(x1: float, y1: float, x2: float, y2: float) -> list[tuple]:
    return [("M", x1, y1), ("L", x2, y2)]
