"""Build ``src/leitstand/search/data/de_lexicon.txt``, the word list of the German compound splitter.

Run once by a developer when the lexicon should change (not at install time):

    .venv/bin/pip install wordfreq==3.1.1
    .venv/bin/python scripts/build_german_lexicon.py

The words come from wordfreq's German "large" list (its English list marks the words that are
far more frequent in English, such as "doctor") (Robyn Speer et al., data under
CC BY-SA 4.0). Each word is folded the way leitstand's analyser folds text ("für" -> "fur",
"ß" -> "ss"), kept only if it is purely alphabetic, and stored with its Zipf frequency
(log10 of occurrences per billion words, rounded to 0.1; folded variants are summed).
The output is deterministic for a given wordfreq version.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from leitstand.search.analyser import fold  # noqa: E402
from leitstand.search.compounds import MAX_WORD_CHARS  # noqa: E402

OUT = ROOT / "src" / "leitstand" / "search" / "data" / "de_lexicon.txt"
MIN_ZIPF = 2.0
"""Words rarer than this (about one in 100 million words) are left out."""
FOREIGN_RATIO = 10.0
"""Words this many times as frequent in English as in German are marked foreign ("doctor")."""

HEADER = """\
# German word frequencies for leitstand's compound splitter (search/compounds.py).
# Built by scripts/build_german_lexicon.py from wordfreq {version} (German, "large" list),
# folded as leitstand's analyser folds text; words with Zipf frequency >= {min_zipf}.
# Format: one line per frequency, "<Zipf * 10> <word> <word> ..."; lines "e<Zipf * 10> ..." hold
# words that are at least ten times as frequent in English (wordfreq's English list).
# Licence: wordfreq's data is CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/);
# it is built from Wikipedia, subtitles (OpenSubtitles, SUBTLEX), news, books (Google Books
# Ngrams), web text (OSCAR), Reddit and Twitter. See https://github.com/rspeer/wordfreq.
# This file is an adaptation and shared under the same licence.
"""


def build(min_zipf: float) -> str:
    from importlib.metadata import version

    import wordfreq

    german = _folded(wordfreq.get_frequency_dict("de", wordlist="large"))
    english = _folded(wordfreq.get_frequency_dict("en", wordlist="large"))
    by_score: dict[str, list[str]] = defaultdict(list)
    for word, frequency in german.items():
        zipf = math.log10(frequency * 1e9)
        if zipf < min_zipf:
            continue
        foreign = english.get(word, 0.0) >= frequency * FOREIGN_RATIO
        by_score[f"{'e' if foreign else ''}{round(zipf * 10)}"].append(word)
    lines = [HEADER.format(version=version("wordfreq"), min_zipf=min_zipf)]
    for key in sorted(by_score, key=lambda key: (key.startswith("e"), -int(key.lstrip("e")))):
        lines.append(f"{key} {' '.join(sorted(by_score[key]))}\n")
    return "".join(lines)


def _folded(frequencies: dict[str, float]) -> dict[str, float]:
    """Frequencies of folded, purely alphabetic words (folded variants summed)."""
    folded: dict[str, float] = defaultdict(float)
    for word, frequency in frequencies.items():
        form = fold(word)
        if form.isalpha() and form.isascii() and len(form) <= MAX_WORD_CHARS:
            folded[form] += frequency
    return folded


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--min-zipf", type=float, default=MIN_ZIPF)
    args.add_argument("--out", type=Path, default=OUT)
    options = args.parse_args()
    text = build(options.min_zipf)
    options.out.write_text(text, encoding="utf-8")
    words = sum(len(line.split()) - 1 for line in text.splitlines() if not line.startswith("#"))
    print(f"wrote {options.out}: {words} words, {len(text.encode()) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
