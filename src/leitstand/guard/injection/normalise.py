"""Undoing the disguises of an attack before any rule looks at it.

An instruction can hide behind look-alike letters ("іgnore" with a Cyrillic і), invisible
characters ("ig\u200bnore"), full-width or mathematical letters ("ｉｇｎｏｒｅ", "𝐢𝐠𝐧𝐨𝐫𝐞"),
leetspeak ("1gn0r3"), spacing ("i g n o r e"), Base64 or ROT13. :func:`views` turns a text
into the versions the rules read: the text itself, normalised and folded to lower-case
ASCII, and each decoding that yields readable text.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from functools import cache

from leitstand.search.analyser import fold, stop_words

# Letters of other scripts that look like Latin ones (the common cases of Unicode's
# confusables list: Cyrillic, Greek, Armenian and phonetic forms).
_LOOKALIKES = {
    "a": "аɑα", "A": "АΑ", "B": "ВΒ", "c": "сϲ", "C": "СϹ", "d": "ԁ", "e": "еҽ", "E": "ЕΕ",
    "g": "ɡ", "h": "һ", "H": "НΗ", "i": "іιɩ", "I": "ІΙӀ", "j": "ј", "J": "Ј", "k": "κ",
    "K": "КΚ", "l": "ӏ", "M": "МΜ", "n": "ո", "N": "Ν", "o": "оοօ", "O": "ОΟՕ", "p": "рρ",
    "P": "РΡ", "q": "ԛ", "s": "ѕ", "S": "Ѕ", "t": "τ", "T": "ТΤ", "u": "υ", "v": "νѵ",
    "w": "ԝ", "x": "хχ", "X": "ХΧ", "y": "уγ", "Y": "УΥҮ", "Z": "Ζ",
}  # fmt: skip
_CONFUSABLES = str.maketrans({c: latin for latin, chars in _LOOKALIKES.items() for c in chars})
_CONFUSABLE = re.compile("[" + "".join(_LOOKALIKES.values()) + "]")
# Zero-width and invisible characters, bidirectional controls, Unicode tag characters.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "!": "i", "|": "l", "€": "e"})  # fmt: skip
_LEET_WORD = re.compile(r"\b(?=[a-z]*[0-9@$!|€])(?=[0-9@$!|€]*[a-z])[a-z0-9@$!|€]{3,}\b")
_SPACED = re.compile(r"\b(?:[a-z] ){3,}[a-z]\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_WORDS = re.compile(r"[a-z]+")
MAX_DECODED = 8
"""Base64 segments decoded per text at most."""


def normalise(text: str) -> str:
    """NFKC, look-alike letters to Latin, invisible characters removed, folded to lower-case
    ASCII where a letter has an ASCII base ("Größe" -> "grosse"), runs of white space
    collapsed. Offsets are not kept: rules report whether, not where."""
    if not text.isascii():  # (every invisible character and look-alike is beyond ASCII)
        if _INVISIBLE.search(text):
            text = _INVISIBLE.sub("", text)
        text = unicodedata.normalize("NFKC", text)
        if _CONFUSABLE.search(text):
            text = text.translate(_CONFUSABLES)
    text = fold(text)
    return " ".join(text.split())


# Cheap tests before the substitutions: a letter next to a digit or sign ("1gn0r3"), three
# single letters in a row ("i g n"). Each pattern starts with the rarer character (a digit or
# sign, a space) and looks back for the letter before it, because Python's re skips ahead to
# a pattern's first character but tries a pattern that starts with a letter at every letter.
_LEET_HINT = re.compile(r"[0-9@$!|€](?:(?<=[a-z].)|[a-z])")
_SPACED_HINT = re.compile(r" (?<=\b[a-z] )[a-z] [a-z]\b")


def _unleet(text: str) -> str:
    """Leetspeak inside words ("1gn0r3 4ll") back to letters, letters spaced out ("i g n o
    r e") joined; numbers stay numbers."""
    if _LEET_HINT.search(text):
        text = _LEET_WORD.sub(lambda m: m.group().translate(_LEET), text)
    if _SPACED_HINT.search(text):
        text = _SPACED.sub(lambda m: m.group().replace(" ", ""), text)
    return text


def _readable(data: bytes) -> str | None:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c.isspace() for c in decoded)
    letters = sum(c.isalpha() for c in decoded)
    if not decoded or printable < 0.95 * len(decoded) or letters < 0.5 * len(decoded):
        return None
    return decoded


@cache
def _stops() -> frozenset[str]:
    return stop_words("en") | stop_words("de")


def _stop_share(text: str) -> float:
    """Distinct stop words per word in the text's first 400 characters: about 0.2 and more
    in German or English prose, near 0 in ROT13 or code."""
    words = _WORDS.findall(text[:400])
    return len(_stops().intersection(words)) / len(words) if words else 0.0


def views(text: str) -> list[str]:
    """The versions of ``text`` that the rules read, normalised: the text itself, its
    leetspeak and spaced-out letters joined up (when that changes it), each Base64 segment
    that decodes to readable text, and ROT13 when that reads more like language."""
    plain = normalise(text)
    found = [plain]
    unleeted = _unleet(plain)
    if unleeted != plain:
        found.append(unleeted)
    for number, match in enumerate(_BASE64.finditer(text)):
        if number >= MAX_DECODED:
            break
        segment = match.group()
        try:
            data = base64.b64decode(segment + "=" * (-len(segment) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        decoded = _readable(data)
        if decoded is not None:
            found.append(normalise(decoded))
    if len(plain) >= 12 and (share := _stop_share(plain)) < 0.1:
        rotated = codecs.encode(plain, "rot13")
        if _stop_share(rotated) > max(0.15, 2 * share):
            found.append(rotated)
    return found
