"""Regenerate the docs that are derived from code (configuration, CLI, database schema)."""

from __future__ import annotations

from pathlib import Path

from leitstand._docs import write_all
from leitstand.config.reference import reference_markdown

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    (ROOT / "docs" / "configuration.md").write_text(reference_markdown(), encoding="utf-8")
    for path in write_all(ROOT):
        print(f"wrote {path.relative_to(ROOT)}")
