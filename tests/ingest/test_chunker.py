from __future__ import annotations

import pytest

from leitstand.ingest.chunker import Chunker, assemble
from leitstand.ingest.loaders.base import Block

pytestmark = pytest.mark.unit


def _document() -> list[Block]:
    return [
        Block("Handbuch", "heading", level=1, page=1),
        Block("Einleitung in das Handbuch.", page=1),
        Block("Reisen", "heading", level=2, page=1),
        Block("Dienstreisen werden vorab genehmigt. " * 30, page=2),
        Block("Ein kurzer Nachsatz.", page=3),
        Block("Anhang", "heading", level=2, page=4),
        Block("Formulare finden Sie im Intranet.", page=4),
    ]


def test_chunks_are_exact_spans_of_the_document_text() -> None:
    text, placed = assemble(_document())
    chunks = Chunker(chunk_chars=400).chunk(text, placed)
    assert chunks
    for chunk in chunks:
        assert text[chunk.start : chunk.end].strip() == text[chunk.start : chunk.end]
        assert chunk.end - chunk.start <= 600


def test_headings_are_context_not_text_and_never_crossed() -> None:
    text, placed = assemble(_document())
    chunks = Chunker(chunk_chars=400).chunk(text, placed)
    headings = [chunk.heading for chunk in chunks]
    assert headings[0] == "Handbuch"
    assert "Handbuch > Reisen" in headings
    assert headings[-1] == "Handbuch > Anhang"
    for chunk in chunks:
        body = text[chunk.start : chunk.end]
        assert "Anhang" not in body or chunk.heading.endswith("Anhang")


def test_long_paragraphs_are_cut_at_sentence_boundaries_and_keep_pages() -> None:
    text, placed = assemble(_document())
    chunks = [c for c in Chunker(chunk_chars=400).chunk(text, placed) if "Reisen" in c.heading]
    assert len(chunks) > 1
    for chunk in chunks:
        assert text[chunk.start : chunk.end].endswith(".")
        assert chunk.page_start in (2, 3)
    assert chunks[-1].page_end == 3


def test_a_sentence_longer_than_a_chunk_is_cut_at_spaces() -> None:
    text, placed = assemble([Block("wort " * 400)])
    chunks = Chunker(chunk_chars=300).chunk(text, placed)
    assert len(chunks) > 1
    assert all(chunk.end - chunk.start <= 300 for chunk in chunks)
    assert all(not text[c.start : c.end].startswith(" ") for c in chunks)


def test_empty_blocks_are_dropped_and_separators_are_blank_lines() -> None:
    text, placed = assemble([Block("  eins "), Block("   "), Block("zwei\nzeilen")])
    assert text == "eins\n\nzwei zeilen"
    assert [(p.start, p.end) for p in placed] == [(0, 4), (6, 17)]


def test_overlap_repeats_the_last_sentence() -> None:
    blocks = [Block(f"Satz Nummer {i} steht hier.") for i in range(40)]
    text, placed = assemble(blocks)
    chunks = Chunker(chunk_chars=200, overlap_sentences=1).chunk(text, placed)
    first, second = text[chunks[0].start : chunks[0].end], text[chunks[1].start : chunks[1].end]
    assert second.split("\n\n")[0] == first.split("\n\n")[-1]
