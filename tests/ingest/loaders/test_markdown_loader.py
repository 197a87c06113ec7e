"""The markdown loader: blocks with their kinds, front matter, and plain text that skips
inline parsing without changing what comes out."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from leitstand.ingest.loaders.base import LoadContext
from leitstand.ingest.loaders.markdown import MarkdownLoader


def _load(text: str) -> list[tuple[str, str, int]]:
    loaded = MarkdownLoader().load(text.encode(), LoadContext(path="x.md"))
    return [(block.text, block.kind, block.level) for block in loaded.blocks]


def _fully_parsed(text: str) -> list[str]:
    """What every inline token says after markdown-it's own inline parsing."""
    parser = MarkdownIt("commonmark").enable("table")
    found = []
    for token in parser.parse(text):
        if token.type != "inline":
            continue
        parts = []
        for child in token.children or []:
            if child.type in ("text", "code_inline", "html_inline"):
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append("\n")
            elif child.type == "image":
                parts.append(child.content or "")
        found.append("".join(parts))
    return found


@pytest.mark.unit
def test_headings_lists_quotes_tables_and_code_keep_their_kinds() -> None:
    text = (
        "---\ntitle: Handbuch\n---\n# Reisen\n\nText mit *Betonung* und [Link](https://x.de).\n\n"
        "- erster Punkt\n  - tiefer\n\n> Zitat\n\n| A | B |\n|---|---|\n| 1 | 2 |\n\n"
        "```\ncode()\n```\n"
    )
    loaded = MarkdownLoader().load(text.encode(), LoadContext(path="x.md"))
    assert loaded.title == "Handbuch"
    assert [(b.text, b.kind, b.level) for b in loaded.blocks] == [
        ("Reisen", "heading", 1),
        ("Text mit Betonung und Link.", "paragraph", 0),
        ("erster Punkt", "list_item", 1),
        ("tiefer", "list_item", 2),
        ("Zitat", "quote", 0),
        ("A | B", "table_row", 0),
        ("1 | 2", "table_row", 0),
        ("code()\n", "code", 0),
    ]


@pytest.mark.unit
@pytest.mark.parametrize(
    "text",
    [
        "Zeile eins  \nZeile zwei",  # hard break
        "Zeile eins \n   Zeile zwei",  # soft break with spaces around it
        "a\n\tb",
        "a \t\nb",
        "Preis: 28 € pro Tag, 0,30 €/km (Stand 2024).",
        "Fußnote\\* und &amp; und &#x41;",
        "`code` und <span>html</span> und ![Bild](b.png)",
        "Aufzählung:\n1. eins\n2. zwei",
        "ein_wort_mit_unterstrichen und __fett__",
        "~~durch~~ und ~tilde",
    ],
)
def test_plain_text_fast_path_gives_what_inline_parsing_gives(text: str) -> None:
    loaded = [block for block, kind, _ in _load(text) if kind != "code"]
    assert loaded == _fully_parsed(text)
