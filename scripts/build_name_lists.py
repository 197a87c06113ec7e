"""Build ``src/leitstand/guard/pii/data/names.txt``, the gazetteer of the name recognizer.

Run once by a developer when the lists should change (not at install time):

    .venv/bin/pip install faker wordfreq==3.1.1
    .venv/bin/python scripts/build_name_lists.py

First and last names come from the person providers of Faker, every locale, Latin script only
(Faker is MIT-licensed: Copyright (c) 2012 Daniele Faraglia). A name whose lower-case form
is also an ordinary word ("Will", "Rose", "Mark", "Ernst") is marked ambiguous: a stop word
of German or English, a word of Faker's German or English word lists, or a word with a Zipf
frequency of at least ``COMMON_ZIPF`` in wordfreq's German or English list (Robyn Speer et
al., CC BY-SA 4.0). The name recognizer takes an ambiguous first name for a name only next to
a surname or after a title. Output lines: ``name<TAB>kinds`` where kinds holds ``f`` (first
name), ``l`` (last name) and ``a`` (ambiguous); sorted, deterministic for given versions.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from leitstand.search.analyser import stop_words  # noqa: E402

OUT = ROOT / "src" / "leitstand" / "guard" / "pii" / "data" / "names.txt"
COMMON_ZIPF = 4.5
"""Zipf frequency from which a name's lower-case form counts as a common word, unless it is
a first name of Faker's German or English locales (frequent names are frequent words too)."""
LOCAL_LOCALES = ("de_DE", "de_AT", "de_CH", "en_US", "en_GB")
WORD_NAMES = (
    "will", "may", "can", "mark", "bill", "art", "hope", "grant", "rose", "frank", "june",
    "april", "august", "page", "joy", "grace", "faith", "dawn", "eve", "summer", "winter",
    "chance", "case", "cash", "bell", "brown", "young", "king", "rich", "wolf", "berg",
    "stein", "sommer", "mai", "ernst", "heide", "engel", "herr", "frau", "love", "star",
)  # fmt: skip
"""Names that are everyday words in English or German whatever their frequency."""


def _latin(name: str) -> bool:
    return all((c.isalpha() and ord(c) < 0x250) or c in "-'" for c in name)


def _values(value: object) -> list[str]:
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [v for v in value if isinstance(v, str)]
    return []


def collect() -> tuple[set[str], set[str]]:
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        for attribute, into in (
            ("first_names", first),
            ("first_names_male", first),
            ("first_names_female", first),
            ("first_names_nonbinary", first),
            ("last_names", last),
            ("last_names_male", last),
            ("last_names_female", last),
        ):
            for name in _values(getattr(provider, attribute, None)):
                for part in name.split():
                    if len(part) >= 2 and part[0].isupper() and _latin(part):
                        into.add(part)
    return first, last


def local_first_names() -> set[str]:
    names: set[str] = set()
    for locale in LOCAL_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attribute in ("first_names", "first_names_male", "first_names_female"):
            names.update(n.lower() for n in _values(getattr(provider, attribute, None)))
    return names


def common_words() -> set[str]:
    import faker.providers.lorem.de_DE as lorem_de
    import faker.providers.lorem.en_US as lorem_en
    from wordfreq import top_n_list, zipf_frequency

    words = {w.lower() for w in (*lorem_de.Provider.word_list, *lorem_en.Provider.word_list)}
    words |= set(stop_words("de")) | set(stop_words("en")) | set(WORD_NAMES)
    local = local_first_names()
    for language in ("de", "en"):
        for word in top_n_list(language, 20_000):
            if zipf_frequency(word, language) >= COMMON_ZIPF and word not in local:
                words.add(word)
    return words


def main() -> None:
    first, last = collect()
    common = common_words()
    lines = []
    for name in sorted(first | last):
        kinds = ("f" if name in first else "") + ("l" if name in last else "")
        if name.lower() in common:
            kinds += "a"
        lines.append(f"{name}\t{kinds}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Gazetteer of leitstand's name recognizer; built by scripts/build_name_lists.py.\n"
        "# Names from Faker's person providers (MIT, Copyright (c) 2012 Daniele Faraglia);\n"
        "# ambiguity from wordfreq (CC BY-SA 4.0). name<TAB>f=first l=last a=ambiguous\n"
    )
    OUT.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    ambiguous = sum(1 for line in lines if line.endswith("a"))
    print(f"{len(first):,} first names, {len(last):,} last names, {ambiguous:,} ambiguous -> {OUT}")


if __name__ == "__main__":
    main()
