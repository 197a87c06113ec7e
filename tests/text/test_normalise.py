from __future__ import annotations

import pytest

from leitstand.text.normalise import normalise_block, normalise_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Daten-\nbank", "Datenbank"),
        ("Retrieval-\nAugmented Generation", "Retrieval-Augmented Generation"),
        ("HNSW-\noder IVF-Indices", "HNSW- oder IVF-Indices"),
        ("Kunden-\nund Partnerdaten", "Kunden- und Partnerdaten"),
        ("E-\nMail", "E-Mail"),
        ("zwei\nZeilen  mit\t Leerraum", "zwei Zeilen mit Leerraum"),
        ("ﬁnden und ﬂießen", "finden und fließen"),
        ("Null\u200bbreite und wei\u00adches Tren\u00adnen", "Nullbreite und weiches Trennen"),
        ("Steuer\x07zeichen", "Steuer zeichen"),
        ("Windows\r\nZeilen", "Windows Zeilen"),
        ("geschu\u0308tzt", "geschützt"),  # decomposed umlaut becomes NFC
    ],
)
def test_normalise_block(raw: str, expected: str) -> None:
    assert normalise_block(raw) == expected


def test_code_keeps_its_lines() -> None:
    assert normalise_block("def f():\n    return 1\n", keep_lines=True) == "def f():\n return 1"


def test_normalise_text_keeps_line_structure() -> None:
    assert normalise_text("a\r\nb\u2029c") == "a\nb\n\nc"
