from __future__ import annotations

import io
import time
import zipfile

import pytest

from leitstand.ingest.loaders.base import LoadContext, LoadedDocument, LoadError
from leitstand.ingest.loaders.docx import DocxLoader
from leitstand.ingest.loaders.registry import LoaderRegistry

pytestmark = pytest.mark.unit

_RENDERED_BREAK = b"<w:r><w:lastRenderedPageBreak/></w:r>"


def load(data: bytes) -> LoadedDocument:
    return DocxLoader().load(data, LoadContext(path="anweisung.docx"))


def rewrite(data: bytes, name: str, change: dict[bytes, bytes]) -> bytes:
    """The same .docx with one part's XML edited (as Word itself would have written it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == name:
                for old, new in change.items():
                    assert old in content, old
                    content = content.replace(old, new)
            target.writestr(item, content)
    return out.getvalue()


def test_registered_for_docx_files() -> None:
    assert isinstance(LoaderRegistry().for_path("Bericht.DOCX"), DocxLoader)


def test_structure_in_document_order(sample_docx: bytes) -> None:
    document = load(sample_docx)

    assert [(b.kind, b.text, b.level, b.page) for b in document.blocks] == [
        ("heading", "Betriebsanweisung Kältetechnik", 1, 1),
        ("heading", "Wartung", 1, 1),
        ("paragraph", "Der Verdampfer wird vierteljährlich enteist.", 0, 1),
        ("list_item", "Filter wechseln", 1, 1),
        ("list_item", "Kältemitteldruck messen", 2, 1),
        ("list_item", "Protokoll unterschreiben", 1, 1),
        ("table_row", "Bauteil | Intervall", 0, 1),
        ("table_row", "Verdampfer | vierteljährlich", 0, 1),
        ("table_row", "Kompressor | jährlich", 0, 1),
        ("paragraph", "Nach der Tabelle geht es weiter.", 0, 1),
        ("heading", "Notfall", 2, 2),
        ("paragraph", "Bei Ammoniakgeruch die Halle sofort verlassen.", 0, 2),
        ("paragraph", "Sammelplatz ist der Parkplatz Nord.", 0, 3),
    ]
    assert document.page_count == 3
    assert document.title == "Betriebsanweisung Kältetechnik"
    assert document.metadata["author"] == "Max Mustermann"
    assert "created" in document.metadata


def test_words_pages_are_not_counted_twice(sample_docx: bytes) -> None:
    # Word marks where it broke pages when it last saved; right after an explicit break that
    # mark is the same page, elsewhere (text flowing onto the next page) it is a new one.
    data = rewrite(
        sample_docx,
        "word/document.xml",
        {
            b"<w:t>Notfall</w:t>": b"<w:lastRenderedPageBreak/><w:t>Notfall</w:t>",
            b"<w:t>Nach der Tabelle": b"</w:r>" + _RENDERED_BREAK + b"<w:r><w:t>Nach der Tabelle",
        },
    )

    document = load(data)

    pages = {b.text: b.page for b in document.blocks}
    assert pages["Kompressor | jährlich"] == 1
    assert pages["Nach der Tabelle geht es weiter."] == 2
    assert pages["Notfall"] == 3
    assert document.page_count == 4


def test_without_page_marks_there_are_no_page_numbers(sample_docx: bytes) -> None:
    data = rewrite(sample_docx, "word/document.xml", {b'<w:br w:type="page"/>': b""})

    document = load(data)

    assert {b.page for b in document.blocks} == {None}
    assert document.page_count == 1  # what docProps/app.xml says


def test_page_limit_is_checked_before_parsing(sample_docx: bytes) -> None:
    data = rewrite(sample_docx, "docProps/app.xml", {b"<Pages>1</Pages>": b"<Pages>5000</Pages>"})

    with pytest.raises(LoadError, match="has 5000 pages, more than the limit of 2000"):
        load(data)


def test_tracked_deletions_are_not_text(sample_docx: bytes) -> None:
    data = rewrite(
        sample_docx,
        "word/document.xml",
        {
            b"<w:t>Filter wechseln</w:t></w:r>": b"<w:t>Filter wechseln</w:t></w:r>"
            b'<w:del w:id="1" w:author="x" w:date="2024-01-01T00:00:00Z"><w:r>'
            b"<w:delText> und wegwerfen</w:delText></w:r></w:del>"
        },
    )

    texts = [b.text for b in load(data).blocks]

    assert "Filter wechseln" in texts
    assert not [t for t in texts if "wegwerfen" in t]


def test_plain_text_named_docx_is_refused() -> None:
    with pytest.raises(LoadError) as caught:
        load(b"Das ist gar kein Word-Dokument.")

    assert caught.value.reason == "is not a Word .docx file (it is not a ZIP archive)"
    assert "save it as .docx" in (caught.value.hint or "")


def test_old_doc_format_is_named() -> None:
    with pytest.raises(LoadError, match=r"old \.doc file"):
        load(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)


def test_zip_without_a_word_document_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")

    with pytest.raises(LoadError, match=r"has no word/document\.xml"):
        load(buffer.getvalue())


def test_zip_bomb_is_refused_without_unpacking_it(zip_bomb: bytes) -> None:
    assert len(zip_bomb) < 1024 * 1024

    started = time.monotonic()
    with pytest.raises(LoadError) as caught:
        load(zip_bomb)

    assert "zip bomb" in caught.value.reason
    assert "to 210 MB" in caught.value.reason
    assert time.monotonic() - started < 1.0


def test_damaged_docx_says_so(sample_docx: bytes) -> None:
    data = rewrite(sample_docx, "word/document.xml", {b"</w:body>": b"</w:bod>"})

    with pytest.raises(LoadError, match="cannot be read as a Word document"):
        load(data)
