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
# Control bytes that do not occur in text (tab, newlines, form feed and escape do).
_BINARY_CONTROLS = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))
# Western European code pages: what a German or English legacy file almost always uses.
_WESTERN = ("cp1252", "latin_1", "iso8859_15")


def looks_binary(data: bytes) -> bool:
    """True for bytes that are not text in any 8-bit encoding (NULs, many control bytes)."""
    sample = data[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _BINARY_CONTROLS))
    return controls / len(sample) > 0.05


def _legacy_encoding(data: bytes) -> str:
    """The most plausible 8-bit encoding; Western European wins a close call.

    charset-normalizer alone often names cp1250 for short German text (the umlauts read the
    same in both); "à", "ñ" or "Œ" would not, so cp1252 is preferred where it fits as well.
    """
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[:200_000]))
    if not matches:
        return "cp1252"
    best = str(matches[0].encoding)
    if best in _WESTERN:
        return "cp1252" if best == "latin_1" else best
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        return best
    if western == data.decode(best, errors="replace"):
        return "cp1252"
    close = [m for m in matches if m.encoding in _WESTERN and m.chaos <= matches[0].chaos + 0.02]
    return "cp1252" if close else best


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
    encoding = _legacy_encoding(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        encoding = "cp1252"
        text = data.decode(encoding, errors="replace")
    context.warn(f"not UTF-8; decoded as {encoding} (re-save as UTF-8 to be sure)")
    return text
