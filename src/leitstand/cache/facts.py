"""The near-miss guard of the semantic cache: two questions must state the same facts.

An embedding puts "Wie lang ist die Kündigungsfrist für Vertrag A?" right next to "... für
Vertrag B?" (cosine 0.97 with all-MiniLM-L6-v2): the wording is the same, only the fact that
matters differs. A semantic hit therefore needs, besides the cosine threshold, three cheap
checks on the words, German and English (0.1 to 0.2 ms per question; the word lists are in
``_lexicon.py``):

**1. The same fact signature.** These, read from each question, must be equal as a multiset:

- *numbers*: digit runs with their separators (``1.000`` = ``1,000``; ``1,5`` = ``1.5``;
  ``24.12.``; ``10:30``), number words up to twelve and some tens (``drei`` = ``3`` =
  ``three``), ordinals (``ersten`` = ``1.`` = ``first``), each with the unit or currency
  next to it (``5 GB`` = ``5GB``, ``€ 500`` = ``500 Euro``, ``14 Tage`` = ``14 days``);
- *negations*, counted: nicht, kein…, nie, niemals, nichts, niemand, nirgends, weder, ohne;
  not, no, never, none, nothing, nobody, nowhere, neither, nor, without, cannot, ``…n't``;
- *identifiers*: words with digits and letters (``X500``, ``Q3``, ``KP-350``), all-capital
  words (``VPN``, ``SAP``), words with an inner capital (``SharePoint``), single capital
  letters (``Vertrag A``), e-mail addresses, URLs and file names, the name after a title,
  the title itself (Herr/Mr, Frau/Ms, Dr., Prof.), and in English questions every
  capitalised word that does not start a sentence (people, places, products). German
  capitalises every noun, so German names without such a mark are left to check 3;
- *quoted text* in any of "…" „…“ “…” ‚…‘ «…» »…« `…`;
- *dates in words*: month and weekday names, heute/today, morgen/tomorrow,
  gestern/yesterday, Wochenende/weekend, parts of the day, and last/next (letzte, vorige,
  vergangene, previous / nächste, kommende, upcoming).

**2. The same kind of question**, where both ask for a person, a time, a place or a reason
in their first words (wer/who, wann/when, wo/where, warum/why): "Wann ist die
Betriebsversammlung?" is not "Wo ist die Betriebsversammlung?"; and where both use modal
verbs, the same modality: whether one may or can (darf, kann, can, may) is not whether one
must (muss, soll, must, need, should). A question without such words may match either.

**3. No changed slot in the same frame.** A question's *frame* is the sequence of its
function words (stop words and modal verbs; articles, possessives and the "do" of "how do
I" left out, German endings taken off);
its *content words* are the rest, folded, compared by their German or English Snowball
stem, German compounds matched against their parts ("Urlaubsantrag" against "Antrag auf
Urlaub"). When the frames are identical and the content words are not, the questions are
the same sentence with another word in a slot: another product, person, place, action or an
added qualifier ("Wie erhöhe ich ..." / "Wie verringere ich ...", "Urlaub" /
"Sonderurlaub"). That is the shape of a near miss, so it is refused. A paraphrase rarely
keeps every function word; when it does ("How do I log my hours worked?" / "How do I
record my working hours?") it is refused too, at the cost of one model call.

Likewise, when one question is the other with words added and none changed ("Which travel
costs are reimbursed?" / "... for train trips?"), it asks for more, and is refused.

A refused paraphrase costs one model call; a wrong hit serves a wrong answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache

import Stemmer

from leitstand.cache import _lexicon as lexicon
from leitstand.search.analyser import fold, stop_words

_QUOTED = re.compile(
    r"\"([^\"]{1,200})\"|„([^“”\"]{1,200})[“”\"]|“([^”]{1,200})”|‚([^‘’]{1,200})[‘’]"
    r"|«([^»]{1,200})»|»([^«]{1,200})«|`([^`]{1,200})`|(?<!\w)'([^']{1,200})'(?!\w)"
)
_LINK = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(
    r"(?P<number>\d+(?:[.,:/]\d+)*[^\W\d_]*%?)(?!\w)"
    r"|(?P<word>[^\W_][\w'’]*(?:[-./+&][^\W_][\w'’]*)*[+#]*)"
    r"|(?P<sign>[€$£%])"
    r"|(?P<stop>[.?!:;]+(?=\s|$))"
)
_NUMBER_WITH_UNIT = re.compile(r"^(\d+(?:[.,:/]\d+)*)(\D*)$")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")
_PARTS = re.compile(r"[-/.+&]")
_FILE = re.compile(r"^[^\W_][\w-]+\.[a-z][a-z0-9]{1,4}$", re.IGNORECASE)
_CURRENCY_FIRST = frozenset(("€", "$", "£", "eur", "usd", "chf", "gbp"))
_TIME_UNITS = frozenset(("day", "workday", "week", "month", "year", "h", "min"))
_BEFORE_LAST = frozenset("the my your our his her their its this that".split())


@dataclass(frozen=True, slots=True)
class Word:
    """A content word: folded, and its German and English stems."""

    folded: str
    de: str
    en: str

    def matches(self, other: Word) -> bool:
        return self.folded == other.folded or self.de == other.de or self.en == other.en


@dataclass(frozen=True, slots=True)
class Facts:
    """What the guard compares of a question (see the module's three checks)."""

    signature: frozenset[str]
    kind: str | None
    modality: frozenset[str]
    frame: tuple[str, ...]
    words: tuple[Word, ...]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    raw: str
    folded: str


@cache
def _vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """(frame words, ignored words) as folded forms."""
    stop = stop_words("de") | stop_words("en")
    frame = stop - lexicon.CONTENT_STOP_WORDS - lexicon.NEGATIONS - set(lexicon.MODALS)
    frame -= lexicon.DETERMINERS | lexicon.DO_SUPPORT
    return frozenset(frame), frozenset(stop | set(lexicon.MODALS) | lexicon.FILLERS)


@cache
def _stemmers() -> tuple[Stemmer.Stemmer, Stemmer.Stemmer]:
    return Stemmer.Stemmer("german"), Stemmer.Stemmer("english")


def read_facts(question: str) -> Facts:
    """The fact signature, kind, frame and content words of a question."""
    text = unicodedata.normalize("NFC", question)
    signature: Counter[str] = Counter()
    for match in _QUOTED.finditer(text):
        quoted = next(group for group in match.groups() if group is not None)
        signature["q:" + " ".join(fold(quoted).split())] += 1
    for match in _LINK.finditer(text):
        signature["id:" + fold(match.group()).rstrip(".,;:!?)")] += 1
    text = _LINK.sub(" ", text)
    tokens = [_Token(m.lastgroup or "", m.group(), fold(m.group())) for m in _TOKEN.finditer(text)]
    english = _english([token.folded for token in tokens if token.kind == "word"])
    consumed = _numbers(tokens, english, signature)
    reader = _Reader(tokens, english, signature)
    for index, token in enumerate(tokens):
        reader.take(index, token, index in consumed)
    first = [token.folded for token in tokens if token.kind != "stop"][:3]
    kind = next((lexicon.QUESTION_WORDS[w] for w in first if w in lexicon.QUESTION_WORDS), None)
    return Facts(
        frozenset(f"{key}#{count}" for key, count in signature.items()),
        kind,
        frozenset(reader.modality),
        tuple(reader.frame),
        tuple(reader.words),
    )


def _english(words: list[str]) -> bool:
    german, english = stop_words("de"), stop_words("en")
    return sum(word in english for word in words) > sum(word in german for word in words)


# -- numbers -------------------------------------------------------------------------------


def _number_value(token: _Token) -> tuple[str, str] | None:
    """(value, attached unit) of a number or number word; None for other tokens."""
    if token.kind == "number":
        match = _NUMBER_WITH_UNIT.match(token.folded)
        if match is None:
            return None
        value, suffix = match.group(1).replace(",", "."), match.group(2)
        if not suffix:
            return value, ""
        unit = lexicon.UNITS.get(suffix)
        return (value, unit) if unit is not None else None  # 2FA, 4K: an identifier
    if token.kind == "word":
        value = lexicon.NUMBER_WORDS.get(token.folded) or lexicon.ORDINAL_FORMS.get(token.folded)
        if value is not None:
            return value, ""
    return None


def _unit(token: _Token, english: bool) -> str | None:
    if token.kind not in ("word", "sign"):
        return None
    if token.folded in ("am", "pm"):
        return "h-of-day" if english else None  # German "am" is "an dem"
    return lexicon.UNITS.get(token.folded)


def _numbers(tokens: list[_Token], english: bool, signature: Counter[str]) -> set[int]:
    """Add every number with its unit to the signature; the indexes of the tokens used."""
    consumed: set[int] = set()
    for index, token in enumerate(tokens):
        if index in consumed:
            continue
        found = _number_value(token)
        if found is None:
            if token.kind == "number":  # 2FA, 4K
                signature["id:" + token.folded] += 1
                consumed.add(index)
            elif token.kind == "word" and "-" in token.folded:  # "first-aid", "Zwei-Faktor"
                for part in token.folded.split("-"):
                    value = lexicon.NUMBER_WORDS.get(part) or lexicon.ORDINAL_FORMS.get(part)
                    if value is not None:
                        signature[f"n:{value}"] += 1
            continue
        value, unit = found
        consumed.add(index)
        unit, used = _unit_of(tokens, index, value, unit, english, consumed)
        consumed.update(used)
        signature[f"n:{value}{unit}"] += 1
    return consumed


def _unit_of(
    tokens: list[_Token], index: int, value: str, unit: str, english: bool, consumed: set[int]
) -> tuple[str, tuple[int, ...]]:
    """The unit next to the number at ``index`` and the indexes of its tokens."""
    if unit:
        return unit, ()
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    if following is not None and following.raw == "." and index + 2 < len(tokens):
        # "im 1. Jahr": an ordinal's dot before a unit ends no sentence
        after = _unit(tokens[index + 2], english)
        if value.isdigit() and after:
            return after, (index + 1, index + 2)
    elif following is not None and (after := _unit(following, english)):
        return after, (index + 1,)
    previous = tokens[index - 1] if index and index - 1 not in consumed else None
    if previous is not None and previous.folded in _CURRENCY_FIRST:
        return lexicon.UNITS[previous.folded], (index - 1,)
    return "", ()


# -- words ---------------------------------------------------------------------------------


class _Reader:
    """Reads the words of a question into its signature, frame and content words."""

    def __init__(self, tokens: list[_Token], english: bool, signature: Counter[str]) -> None:
        self.tokens = tokens
        self.english = english
        self.signature = signature
        self.frame: list[str] = []
        self.modality: set[str] = set()
        self.words: list[Word] = []
        self.sentence_start = True
        self.previous = ""

    def take(self, index: int, token: _Token, consumed: bool) -> None:
        if token.kind == "stop":
            # "Dr. Wagner", "z. B.": the dot of an abbreviation ends no sentence
            abbreviation = token.raw == "." and (
                self.previous in lexicon.TITLES or len(self.previous) == 1
            )
            self.sentence_start = self.sentence_start or not abbreviation
            return
        if not consumed:
            if token.kind == "sign":
                self.signature["u:" + lexicon.UNITS[token.folded]] += 1
            elif token.kind == "word":
                self._word(index, token)
        self.previous = token.folded
        self.sentence_start = False

    def _word(self, index: int, token: _Token) -> None:
        raw, word = token.raw, token.folded
        if word in lexicon.TITLES:
            self.signature["title:" + lexicon.TITLES[word]] += 1
        elif word in lexicon.NEGATIONS or word.endswith(("n't", "n’t")):
            self.signature["neg"] += 1
        elif word in lexicon.DATES and (word != "may" or self._capitalised_inside(raw)):
            self.signature["t:" + lexicon.DATES[word]] += 1
        elif word in lexicon.RELATIVE_FORMS and self._relative(index, word):
            self.signature["t:" + lexicon.RELATIVE_FORMS[word]] += 1
        elif _FILE.match(raw) and raw.count(".") == 1:
            self.signature["id:" + word] += 1
        else:
            self._identifiers(raw, word)
            self._frame_or_content(word)

    def _capitalised_inside(self, raw: str) -> bool:
        return raw[0].isupper() and not self.sentence_start

    def _relative(self, index: int, word: str) -> bool:
        """English "last" is a date only after a determiner or before a time word."""
        if word != "last":
            return True
        following = self.tokens[index + 1].folded if index + 1 < len(self.tokens) else ""
        unit = lexicon.UNITS.get(following)
        return (
            self.previous in _BEFORE_LAST
            or following in lexicon.DATES
            or following == "quarter"
            or (unit is not None and unit in _TIME_UNITS)
        )

    def _identifiers(self, raw: str, word: str) -> None:
        if _DIGIT.search(raw) and _LETTER.search(raw):
            self.signature["id:" + word] += 1  # KP-350, S7-1200, X500
            return
        for part in _PARTS.split(raw):
            if _is_identifier(part):
                self.signature["id:" + fold(part)] += 1
        if raw == "I" or word in lexicon.NOT_NAMES or _is_identifier(raw):
            return
        name = word.removesuffix("'s").removesuffix("’s")
        if len(raw) == 1 and raw.isupper() and not (self.english and self.sentence_start):
            self.signature["id:" + name] += 1  # Vertrag A, plan B
        elif self.previous in lexicon.TITLES and raw[0].isupper():
            self.signature["id:" + name] += 1  # Frau Becker, Mr Patel
        elif self.english and raw[0].isupper() and not self.sentence_start:
            self.signature["id:" + name] += 1  # Microsoft Teams, Hamburg, Priya

    def _frame_or_content(self, word: str) -> None:
        frame, _ = _vocabulary()
        if word in frame:
            if not _possessive(word):
                self.frame.append(_uninflected(word))
            return
        if word in lexicon.MODALS:
            self.modality.add(lexicon.MODALS[word])
            self.frame.append(lexicon.MODALS[word])
            return
        self.words.extend(_content_words(word))


def _is_identifier(part: str) -> bool:
    if len(part) < 2 or part.islower():
        return False
    if part.isupper():
        return _LETTER.search(part) is not None  # VPN, SAP, HR
    return part[1:] != part[1:].lower()  # SharePoint, iPhone


def _possessive(word: str) -> bool:
    return any(
        word.startswith(stem) and word[len(stem) :] in lexicon.ENDINGS
        for stem in lexicon.POSSESSIVES
    )


def _uninflected(word: str) -> str:
    for stem in lexicon.INFLECTED:
        if word.startswith(stem) and word[len(stem) :] in lexicon.ENDINGS:
            return stem
    return word


@lru_cache(maxsize=50_000)
def _content_words(word: str) -> tuple[Word, ...]:
    _, ignored = _vocabulary()
    german, english = _stemmers()
    found = []
    for piece in _PARTS.split(word):
        part = piece.removesuffix("'s").removesuffix("’s")
        if not part or part.isdigit() or part in lexicon.TITLES:
            continue
        if part in ignored and part not in lexicon.CONTENT_STOP_WORDS:
            continue
        found.append(Word(part, german.stemWord(part), english.stemWord(part)))
    return tuple(found)


# -- comparing two questions ---------------------------------------------------------------


def conflict(a: Facts, b: Facts) -> str | None:
    """Why two questions must not share an answer, or None when the guard lets them.

    The reason says what differs ("facts differ: n:5day#1 | n:10day#1"), for traces and
    tests.
    """
    return _other_facts(a, b) or _other_question(a, b) or _other_words(a, b)


def _other_facts(a: Facts, b: Facts) -> str | None:
    if a.signature == b.signature:
        return None
    only_a = " ".join(sorted(a.signature - b.signature)) or "-"
    only_b = " ".join(sorted(b.signature - a.signature)) or "-"
    return f"facts differ: {only_a} | {only_b}"


def _other_question(a: Facts, b: Facts) -> str | None:
    if a.kind is not None and b.kind is not None and a.kind != b.kind:
        return f"asks for another thing: {a.kind} | {b.kind}"
    if a.modality and b.modality and a.modality != b.modality:
        return f"asks for another thing: {' '.join(sorted(a.modality))} | " + " ".join(
            sorted(b.modality)
        )
    return None


def _other_words(a: Facts, b: Facts) -> str | None:
    unmatched_a, unmatched_b = _unmatched(a.words, b.words), _unmatched(b.words, a.words)
    left, right = _unexplained(unmatched_a, unmatched_b), _unexplained(unmatched_b, unmatched_a)
    if not left and not right:
        return None
    before = " ".join(word.folded for word in left) or "-"
    after = " ".join(word.folded for word in right) or "-"
    if a.frame == b.frame:
        return f"same sentence, other words: {before} | {after}"
    if _extends(a, b, left, right):
        return f"one asks for more: {before} | {after}"
    return None


def _extends(a: Facts, b: Facts, left: list[Word], right: list[Word]) -> bool:
    """One question is the other with words added and none changed (in content and frame)."""
    if left and right:
        return False
    shorter, longer = (a.frame, b.frame) if not left else (b.frame, a.frame)
    rest = iter(longer)
    return all(word in rest for word in shorter)


def _unmatched(words: tuple[Word, ...], others: tuple[Word, ...]) -> list[Word]:
    unmatched: dict[str, Word] = {}
    for word in words:
        if not any(word.matches(other) for other in others):
            unmatched.setdefault(word.folded, word)
    return list(unmatched.values())


def _unexplained(words: list[Word], others: list[Word]) -> list[Word]:
    """The words not accounted for by compounds on the other side: a part of a longer word
    there ("urlaub" in "urlaubsantrag"), or a compound whose parts are there (80 % of it)."""
    left = []
    for word in words:
        if any(len(word.de) >= 3 and word.de in other.folded for other in others):
            continue
        parts = sum(len(o.de) for o in others if len(o.de) >= 3 and o.de in word.folded)
        if parts >= 0.8 * len(word.de):
            continue
        left.append(word)
    return left
