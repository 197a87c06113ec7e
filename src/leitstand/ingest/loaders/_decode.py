"""Bytes to text for the text-based formats: UTF-8 first, then a detected legacy encoding."""

from __future__ import annotations

import codecs

from leitstand.ingest.loaders.base import LoadContext, LoadError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_TEXT_CONTROLS = {9, 10, 12, 13, 27}


def looks_binary(data: bytes) -> bool:
    """True for bytes that are not text in any 8-bit encoding (NULs, many control bytes)."""
    sample = data[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 32 and byte not in _TEXT_CONTROLS)
    return controls / len(sample) > 0.05


def decode_text(data: bytes, context: LoadContext) -> str:
    """Decode a text file; warn when it was not UTF-8; refuse binary content."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(
                    f"starts with a {encoding} byte-order mark but is not valid {encoding}",
                    hint="re-save the file as UTF-8",
                ) from exc
    if looks_binary(data):
        raise LoadError(
            "looks like a binary file, not text (it contains NUL or control bytes)",
            hint="check the file type; rename it to its real extension or exclude it",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    encoding = best.encoding if best is not None else "cp1252"
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        encoding = "cp1252"
        text = data.decode(encoding, errors="replace")
    context.warn(f"not UTF-8; decoded as {encoding} (re-save as UTF-8 to be sure)")
    return text
