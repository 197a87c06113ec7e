from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

import pytest

from leitstand.errors import IngestFileError
from leitstand.ingest.chunker import assemble
from leitstand.ingest.loaders.base import LoadContext, LoadError
from leitstand.ingest.loaders.pdf import PdfLoader
from leitstand.ingest.loaders.registry import LoaderRegistry
from leitstand.ingest.parse import ParseOptions, parse_file
from leitstand.search.analyser import Analyser
from leitstand.text.language import LanguageDetector

pytestmark = pytest.mark.unit


def load(
    data: bytes, *, max_pages: int = 2000, timeout_s: float = 60.0
) -> tuple[list[tuple[str, str, int, int | None]], LoadContext]:
    context = LoadContext(path="handbuch.pdf", max_pages=max_pages, timeout_s=timeout_s)
    document = PdfLoader().load(data, context)
    return [(b.kind, b.text, b.level, b.page) for b in document.blocks], context


def test_registered_for_pdf_files() -> None:
    assert isinstance(LoaderRegistry().for_path("Scan.PDF"), PdfLoader)


def test_headings_paragraphs_and_pages(sample_pdf: bytes) -> None:
    document = PdfLoader().load(sample_pdf, LoadContext(path="handbuch.pdf"))

    assert document.page_count == 3
    headings = [(b.text, b.level, b.page) for b in document.blocks if b.kind == "heading"]
    assert headings == [
        ("Wartungshandbuch Kühlanlage", 1, 1),
        ("Störungen", 2, 2),
        ("Ersatzteile", 2, 3),
    ]
    paragraphs = [(b.text.split()[0], b.page) for b in document.blocks if b.kind == "paragraph"]
    assert paragraphs == [("Die", 1), ("Vor", 1), ("Bei", 2), ("Dichtungen", 3)]
    assert document.title == "Wartungshandbuch"
    assert document.metadata["author"] == "Erika Mustermann"
    assert re.match(r"\d{4}-\d\d-\d\dT", document.metadata["created"])


def test_word_hyphenated_across_lines_is_joined(sample_pdf: bytes) -> None:
    document = PdfLoader().load(sample_pdf, LoadContext(path="handbuch.pdf"))

    text, _ = assemble(document.blocks)

    assert "in der Datenbank des Leitstands" in text
    assert "Daten-" not in text


def test_title_falls_back_to_the_first_heading(make_pdf: Callable[..., bytes]) -> None:
    data = make_pdf([[("h1", "Notfallplan"), ("p", "Ruhe bewahren und den Notruf wählen.")]])

    document = PdfLoader().load(data, LoadContext(path="plan.pdf"))

    assert document.title == "Notfallplan"


def test_running_headers_footers_and_page_numbers_are_dropped(
    make_pdf: Callable[..., bytes],
) -> None:
    pages = [
        [("p", "Muster GmbH - Vertraulich"), ("p", f"Inhalt der Seite {word}."), ("p", f"{n}")]
        for n, word in enumerate(["Alpha", "Beta", "Gamma", "Delta"], start=1)
    ]

    blocks, _ = load(make_pdf(pages))

    texts = [text for _, text, _, _ in blocks]
    assert texts == [f"Inhalt der Seite {w}." for w in ["Alpha", "Beta", "Gamma", "Delta"]]


def test_password_protected_pdf_is_refused_with_a_hint(make_pdf: Callable[..., bytes]) -> None:
    data = make_pdf([[("p", "Gehaltsliste")]], user_password="geheim")

    with pytest.raises(LoadError) as caught:
        load(data)

    assert caught.value.reason == "is encrypted with a password"
    assert "qpdf --decrypt" in (caught.value.hint or "")


def test_pdf_encrypted_without_a_user_password_opens(make_pdf: Callable[..., bytes]) -> None:
    data = make_pdf([[("p", "Druckfreigabe nur mit Unterschrift.")]], user_password="")

    blocks, _ = load(data)

    assert blocks == [("paragraph", "Druckfreigabe nur mit Unterschrift.", 0, 1)]


def test_a_web_page_saved_as_pdf_is_named_for_what_it_is() -> None:
    with pytest.raises(LoadError) as caught:
        load(b"<!DOCTYPE html><html><body>404 Not Found</body></html>")

    assert caught.value.reason.startswith("cannot be read as a PDF (it has no PDF header")
    assert "HTML page" in caught.value.reason


class _Console(logging.Handler):
    """Stands for whatever prints log records for the user (a handler on the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def console() -> Iterator[_Console]:
    handler = _Console()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_truncated_pdf_says_the_end_is_missing(sample_pdf: bytes, console: _Console) -> None:
    with pytest.raises(LoadError) as caught:
        load(sample_pdf[: len(sample_pdf) // 2])

    assert "end of the file is missing" in caught.value.reason
    assert "qpdf" in (caught.value.hint or "")
    assert not [r for r in console.records if r.levelno >= logging.WARNING]


def test_slightly_broken_pdf_loads_without_console_noise(
    sample_pdf: bytes, console: _Console
) -> None:
    without_xref = (
        sample_pdf[: sample_pdf.index(b"xref")] + sample_pdf[sample_pdf.index(b"trailer") :]
    )

    blocks, context = load(without_xref)

    assert ("heading", "Störungen", 2, 2) in blocks
    assert context.warnings == []
    assert not [r for r in console.records if r.levelno >= logging.WARNING]
    assert any(r.name.endswith(".pdf") and "pypdf" in r.getMessage() for r in console.records)


def test_pypdf_messages_outside_a_load_still_reach_the_log(
    sample_pdf: bytes, console: _Console
) -> None:
    load(sample_pdf)  # installs the router

    logging.getLogger("pypdf._reader").warning("from someone else's code")

    assert [r.getMessage() for r in console.records] == ["from someone else's code"]


def test_too_many_pages(sample_pdf: bytes) -> None:
    with pytest.raises(LoadError, match="has 3 pages, more than the limit of 2"):
        load(sample_pdf, max_pages=2)


def test_time_limit(sample_pdf: bytes) -> None:
    with pytest.raises(LoadError, match="took longer than the limit"):
        load(sample_pdf, timeout_s=0.0)


def test_pdf_without_text_asks_for_ocr(make_pdf: Callable[..., bytes]) -> None:
    empty_page = make_pdf([[]])

    with pytest.raises(IngestFileError) as caught:
        parse_file(
            data=empty_page,
            path="scan.pdf",
            uri="file:///scan.pdf",
            content_hash="x",
            mtime_ns=0,
            loader=PdfLoader(),
            analyser=Analyser(["de", "en"]),
            detector=LanguageDetector(["de", "en"]),
            options=ParseOptions(),
        )

    assert caught.value.reason == "contains no extractable text (pdf)"
    assert "OCR" in (caught.value.hint or "")
