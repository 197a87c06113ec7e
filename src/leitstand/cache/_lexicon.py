"""The German and English words the near-miss guard (``facts.py``) looks for, folded as
``leitstand.search.analyser.fold`` folds them (lower case, no diacritics, ß as ss)."""

from __future__ import annotations

NEGATIONS = frozenset(
    "nicht kein keine keinen keinem keiner keines nie niemals nichts niemand niemandem "
    "niemanden nirgends nirgendwo weder ohne "
    "not no never none nothing nobody nowhere neither nor without cannot".split()
)
"""Counted; words ending in "n't" count too."""
NUMBER_WORDS = {
    **dict.fromkeys(("null", "zero"), "0"),
    **dict.fromkeys(("zwei", "two", "beide", "both"), "2"),
    **dict.fromkeys(("drei", "three"), "3"),
    **dict.fromkeys(("vier", "four"), "4"),
    **dict.fromkeys(("funf", "five"), "5"),
    **dict.fromkeys(("sechs", "six"), "6"),
    **dict.fromkeys(("sieben", "seven"), "7"),
    **dict.fromkeys(("acht", "eight"), "8"),
    **dict.fromkeys(("neun", "nine"), "9"),
    **dict.fromkeys(("zehn", "ten"), "10"),
    **dict.fromkeys(("elf", "eleven"), "11"),
    **dict.fromkeys(("zwolf", "twelve", "dutzend", "dozen"), "12"),
    **dict.fromkeys(("zwanzig", "twenty"), "20"),
    **dict.fromkeys(("dreissig", "thirty"), "30"),
    **dict.fromkeys(("funfzig", "fifty"), "50"),
    **dict.fromkeys(("hundert", "hundred"), "100"),
    **dict.fromkeys(("tausend", "thousand"), "1000"),
    **dict.fromkeys(("halb", "halbe", "halben", "halber", "half"), "0.5"),
}
ORDINALS_DE = {"erst": "1", "zweit": "2", "dritt": "3", "viert": "4", "funft": "5"}
ORDINALS_EN = {"first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5"}
UNITS = {
    **dict.fromkeys(("%", "prozent", "percent", "pct"), "%"),
    **dict.fromkeys(("€", "eur", "euro", "euros"), "eur"),
    **dict.fromkeys(("$", "usd", "dollar", "dollars"), "usd"),
    **dict.fromkeys(("£", "gbp", "pfund", "pound", "pounds"), "gbp"),
    "chf": "chf",
    **dict.fromkeys(("kb", "kilobyte"), "kb"),
    **dict.fromkeys(("mb", "megabyte"), "mb"),
    **dict.fromkeys(("gb", "gigabyte"), "gb"),
    **dict.fromkeys(("tb", "terabyte"), "tb"),
    **dict.fromkeys(("mbit", "mbit/s", "mbps"), "mbit"),
    **dict.fromkeys(("gbit", "gbit/s", "gbps"), "gbit"),
    **dict.fromkeys(("ghz",), "ghz"),
    **dict.fromkeys(("mi", "meile", "meilen", "mile", "miles"), "mi"),
    **dict.fromkeys(("t", "tonne", "tonnen", "ton", "tons", "tonnes"), "t"),
    **dict.fromkeys(("m3", "kubikmeter", "kubikmetern", "cubic"), "m3"),
    **dict.fromkeys(("grad", "degree", "degrees"), "deg"),
    **dict.fromkeys(("lb", "lbs"), "lb"),
    **dict.fromkeys(("km", "kilometer", "kilometre", "kilometers", "kilometres"), "km"),
    **dict.fromkeys(("m", "meter", "metre", "meters", "metres"), "m"),
    **dict.fromkeys(("cm", "zentimeter", "centimeter"), "cm"),
    **dict.fromkeys(("kg", "kilo", "kilogramm", "kilogram", "kilograms"), "kg"),
    **dict.fromkeys(("g", "gramm", "gram", "grams"), "g"),
    **dict.fromkeys(("l", "liter", "litre", "liters", "litres"), "l"),
    **dict.fromkeys(("kw", "kilowatt"), "kw"),
    **dict.fromkeys(("kwh",), "kwh"),
    **dict.fromkeys(("w", "watt"), "w"),
    **dict.fromkeys(("zoll", "inch", "inches"), "inch"),
    **dict.fromkeys(("uhr", "oclock"), "h-of-day"),
    **dict.fromkeys(("s", "sek", "sekunde", "sekunden", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "minute", "minuten", "minutes"), "min"),
    **dict.fromkeys(("h", "std", "stunde", "stunden", "hour", "hours"), "h"),
    **dict.fromkeys(("tag", "tage", "tagen", "day", "days"), "day"),
    **dict.fromkeys(("arbeitstag", "arbeitstage", "arbeitstagen"), "workday"),
    **dict.fromkeys(("werktag", "werktage", "werktagen"), "workday"),
    **dict.fromkeys(("woche", "wochen", "week", "weeks"), "week"),
    **dict.fromkeys(("monat", "monate", "monaten", "month", "months"), "month"),
    **dict.fromkeys(("jahr", "jahre", "jahren", "year", "years"), "year"),
    **dict.fromkeys(("mal", "times"), "times"),
}
DATES = {
    **dict.fromkeys(("januar", "jan", "january", "janner"), "m01"),
    **dict.fromkeys(("februar", "feb", "february"), "m02"),
    **dict.fromkeys(("marz", "march"), "m03"),
    **dict.fromkeys(("april", "apr"), "m04"),
    **dict.fromkeys(("mai", "may"), "m05"),
    **dict.fromkeys(("juni", "june"), "m06"),
    **dict.fromkeys(("juli", "july"), "m07"),
    **dict.fromkeys(("august", "aug"), "m08"),
    **dict.fromkeys(("september", "sept"), "m09"),
    **dict.fromkeys(("oktober", "october", "okt", "oct"), "m10"),
    **dict.fromkeys(("november", "nov"), "m11"),
    **dict.fromkeys(("dezember", "december", "dez", "dec"), "m12"),
    **dict.fromkeys(("montag", "montags", "monday", "mondays"), "mon"),
    **dict.fromkeys(("dienstag", "dienstags", "tuesday", "tuesdays"), "tue"),
    **dict.fromkeys(("mittwoch", "mittwochs", "wednesday", "wednesdays"), "wed"),
    **dict.fromkeys(("donnerstag", "donnerstags", "thursday", "thursdays"), "thu"),
    **dict.fromkeys(("freitag", "freitags", "friday", "fridays"), "fri"),
    **dict.fromkeys(("samstag", "samstags", "sonnabend", "saturday", "saturdays"), "sat"),
    **dict.fromkeys(("sonntag", "sonntags", "sunday", "sundays"), "sun"),
    **dict.fromkeys(("wochenende", "weekend", "wochenenden", "weekends"), "weekend"),
    **dict.fromkeys(("heute", "today", "heutigen", "tonight"), "today"),
    **dict.fromkeys(("morgen", "tomorrow"), "tomorrow"),
    **dict.fromkeys(("gestern", "yesterday", "gestrigen"), "yesterday"),
    **dict.fromkeys(("ubermorgen",), "tomorrow+1"),
    **dict.fromkeys(("vorgestern",), "yesterday-1"),
    **dict.fromkeys(("vormittag", "vormittags", "morning"), "morning"),
    **dict.fromkeys(("nachmittag", "nachmittags", "afternoon"), "afternoon"),
    **dict.fromkeys(("abend", "abends", "evening"), "evening"),
    **dict.fromkeys(("nacht", "nachts", "night", "overnight"), "night"),
}
RELATIVE_DE = dict.fromkeys(("letzt", "vorig", "vergangen", "vorherig"), "-") | dict.fromkeys(
    ("nachst", "kommend"), "+"
)
RELATIVE_EN = dict.fromkeys(("last", "previous", "past"), "-") | dict.fromkeys(
    ("next", "upcoming"), "+"
)
"""Last and next; English "last" only before a time word or after a determiner (not the
verb: "how long does it last")."""
ENDINGS = ("", "e", "en", "er", "es", "em")
ORDINAL_FORMS = {
    **{stem + end: value for stem, value in ORDINALS_DE.items() for end in ENDINGS},
    **ORDINALS_EN,
}
RELATIVE_FORMS = {
    **{stem + end: value for stem, value in RELATIVE_DE.items() for end in ENDINGS},
    **RELATIVE_EN,
}
QUESTION_WORDS = {
    **dict.fromkeys(("wer", "wen", "wem", "wessen", "who", "whom", "whose"), "who"),
    **dict.fromkeys(("wann", "when"), "when"),
    **dict.fromkeys(("wo", "wohin", "woher", "where"), "where"),
    **dict.fromkeys(("warum", "wieso", "weshalb", "why"), "why"),
}
TITLES = {
    **dict.fromkeys(("herr", "herrn", "mr"), "mr"),
    **dict.fromkeys(("frau", "mrs", "ms"), "ms"),
    "dr": "dr",
    "prof": "prof",
    "mx": "mx",
}
NOT_NAMES = frozenset("i i'm i'd i've i'll ok okay".split())
FILLERS = frozenset(
    "bitte mal eigentlich genau denn uberhaupt eben halt kurz kurze nochmal gerne gern danke "
    "hallo hi hello please thanks thank kindly actually exactly just quick question frage hey "
    "liebe lieber dear team wohl viel viele vielen many much gibt tun".split()
)
"""Words that neither state a fact nor shape the question."""
CONTENT_STOP_WORDS = frozenset(
    "vor nach uber unter gegen mehr weniger wieder zuruck before after above below over under "
    "against more less most least few again up down on off only same other andere anderen "
    "anderer".split()
)
"""Stop words that are compared as content words: they turn what a question asks about."""
DETERMINERS = frozenset(
    "der die das den dem des ein eine einen einem einer eines the a an my your his her its our "
    "their".split()
)
"""Left out of a question's frame: they change with the noun they stand before (German
possessives too, see ``POSSESSIVES``)."""
POSSESSIVES = ("mein", "dein", "sein", "unser", "euer", "eur")
INFLECTED = ("mein", "dein", "sein", "ihr", "unser", "euer", "eur", "dies", "jed", "welch")
"""German function words whose endings are taken off in the frame (meinen -> mein)."""
MODALS = {
    **dict.fromkeys(
        "can could may might kann kannst konnen konnt konnte darf darfst durfen".split(), "may"
    ),
    **dict.fromkeys(
        "must need needs shall should muss musst mussen soll sollst sollen sollte".split(), "must"
    ),
}
"""Modal verbs by what they ask: whether one may (or can) or whether one must. Two questions
that both use one must ask the same; one without any may match either."""
DO_SUPPORT = frozenset("do does did".split())
"""Left out of a question's frame: "How do I ..." asks what "How can I ..." asks."""
