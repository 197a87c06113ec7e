"""Documents built in the test, never checked in: PDFs with fpdf2, Word files with python-docx.

``sample_pdf`` and ``sample_docx`` are the same small maintenance manual in two formats,
with a title, headings, a word hyphenated across a line break (PDF), a list, a table and
page breaks, so a test can check what a reader of the original would see.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence

import docx
import pytest
from docx.enum.text import WD_BREAK
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

PdfPage = Sequence[tuple[str, str]]
"""One page: ("h1" | "h2" | "p", text) pairs; "\\n" in a paragraph is a line break."""

_SIZES = {"h1": 20, "h2": 15, "p": 11}


def build_pdf(
    pages: Sequence[PdfPage],
    *,
    title: str | None = None,
    author: str | None = None,
    user_password: str | None = None,
) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    for page in pages:
        pdf.add_page()
        for kind, text in page:
            pdf.set_font("helvetica", "B" if kind != "p" else "", _SIZES[kind])
            pdf.multi_cell(0, _SIZES[kind] * 0.5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(5)
    if user_password is not None:
        pdf.set_encryption(
            owner_password="owner-secret",
            user_password=user_password,
            encryption_method=EncryptionMethod.RC4,
        )
    return bytes(pdf.output())


SAMPLE_PDF_PAGES: list[PdfPage] = [
    [
        ("h1", "Wartungshandbuch Kühlanlage"),
        (
            "p",
            "Die Kühlpumpe wird jeden Monat geprüft. Alle Messwerte landen in der Daten-\n"
            "bank des Leitstands und werden dort zehn Jahre aufbewahrt.",
        ),
        ("p", "Vor jeder Prüfung wird die Anlage spannungsfrei geschaltet."),
    ],
    [
        ("h2", "Störungen"),
        ("p", "Bei einer Störung des Kompressors ruft die Schichtleitung den Notdienst."),
    ],
    [
        ("h2", "Ersatzteile"),
        ("p", "Dichtungen und Filtermatten liegen im Lager neben Halle drei."),
    ],
]


@pytest.fixture
def sample_pdf() -> bytes:
    """Three pages: a title heading, a hyphenated "Daten-/bank", two sections."""
    return build_pdf(SAMPLE_PDF_PAGES, title="Wartungshandbuch", author="Erika Mustermann")


@pytest.fixture
def make_pdf() -> Callable[..., bytes]:
    return build_pdf


def build_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "Betriebsanweisung Kältetechnik"
    document.core_properties.author = "Max Mustermann"
    document.add_heading("Betriebsanweisung Kältetechnik", level=0)
    document.add_heading("Wartung", level=1)
    document.add_paragraph("Der Verdampfer wird vierteljährlich enteist.")
    document.add_paragraph("Filter wechseln", style="List Bullet")
    document.add_paragraph("Kältemitteldruck messen", style="List Bullet 2")
    document.add_paragraph("Protokoll unterschreiben", style="List Number")
    table = document.add_table(rows=3, cols=2)
    for row, (part, interval) in enumerate(
        [("Bauteil", "Intervall"), ("Verdampfer", "vierteljährlich"), ("Kompressor", "jährlich")]
    ):
        table.cell(row, 0).text = part
        table.cell(row, 1).text = interval
    document.add_paragraph("Nach der Tabelle geht es weiter.")
    document.add_page_break()
    document.add_heading("Notfall", level=2)
    paragraph = document.add_paragraph("Bei Ammoniakgeruch die Halle ")
    paragraph.add_run("sofort").bold = True
    paragraph.add_run(" verlassen.")
    paragraph.add_run().add_break(WD_BREAK.PAGE)
    paragraph.add_run("Sammelplatz ist der Parkplatz Nord.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def sample_docx() -> bytes:
    """Title, headings, a two-level list, a table, and two page breaks (three pages)."""
    return build_docx()


@pytest.fixture(scope="session")
def zip_bomb() -> bytes:
    """A .docx-shaped ZIP of well under 1 MB whose document.xml unpacks to 210 MB of zeros."""
    buffer = io.BytesIO()
    zeros = b"\0" * (1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("word/document.xml", "w") as part,
    ):
        for _ in range(210):
            part.write(zeros)
    return buffer.getvalue()
