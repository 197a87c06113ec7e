"""Docs derived from code must match the code: regenerate with `make docs`."""

from __future__ import annotations

from pathlib import Path

import pytest

from leitstand._docs import cli_reference, schema_reference

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(
    ("name", "generate"), [("cli.md", cli_reference), ("schema.md", schema_reference)]
)
def test_generated_doc_is_current(name: str, generate: object) -> None:
    assert callable(generate)
    assert (DOCS / name).read_text(encoding="utf-8") == generate(), (
        f"docs/{name} is out of date: run `make docs`"
    )
