"""PII detection: each class found where it is and nowhere else, offsets into the text."""

from __future__ import annotations

import json

import pytest
from tests.conftest import DATASETS

from leitstand.guard.findings import Finding, resolve_overlaps
from leitstand.guard.pii import LABELS, PiiDetector
from leitstand.guard.pii.checksums import is_icao_number, is_kvnr, is_rvnr


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector(phone_regions=("DE", "US", "GB"))


def found(detector: PiiDetector, text: str) -> list[tuple[str, str]]:
    return [(text[f.start : f.end], f.label) for f in detector.detect(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Schreiben Sie an max.mustermann@example.de bitte.", ("max.mustermann@example.de", "EMAIL")),  # noqa: E501
        ("IBAN: DE89 3704 0044 0532 0130 00", ("DE89 3704 0044 0532 0130 00", "IBAN")),
        ("Überweisung auf DE89370400440532013000.", ("DE89370400440532013000", "IBAN")),
        ("BIC COBADEFFXXX", ("COBADEFFXXX", "BIC")),
        ("Meine Steuer-ID lautet 86095742719.", ("86095742719", "TAX_ID")),
        ("Steuernummer 181/815/08155", ("181/815/08155", "TAX_NUMBER")),
        ("USt-IdNr. DE136695976", ("DE136695976", "VAT_ID")),
        ("Sozialversicherungsnummer 15 070649 C 103", ("15 070649 C 103", "SOCIAL_SECURITY")),
        ("SSN 078-05-1120 on file", ("078-05-1120", "SOCIAL_SECURITY")),
        ("Versichertennummer A123456780", ("A123456780", "HEALTH_INSURANCE")),
        ("Personalausweis T220001293", ("T220001293", "ID_CARD")),
        ("Reisepass C01X00T478", ("C01X00T478", "PASSPORT")),
        ("Karte 4111 1111 1111 1111 belasten", ("4111 1111 1111 1111", "CREDIT_CARD")),
        ("Server 192.168.10.23 antwortet nicht", ("192.168.10.23", "IP_ADDRESS")),
        ("host 2001:db8::ff00:42:8329 is down", ("2001:db8::ff00:42:8329", "IP_ADDRESS")),
        ("Rufen Sie an: 0171 1234567", ("0171 1234567", "PHONE")),
        ("Tel. +49 30 901820", ("+49 30 901820", "PHONE")),
        ("call +1-202-555-0147x12 today", ("+1-202-555-0147x12", "PHONE")),
        ("Lieferung an Hauptstraße 12a, 80331 München.", ("Hauptstraße 12a, 80331 München", "ADDRESS")),  # noqa: E501
        ("Sitz: Konrad-Adenauer-Straße 5 in Bonn", ("Konrad-Adenauer-Straße 5", "ADDRESS")),
        ("Ship to 1600 Pennsylvania Ave NW, Washington, DC 20500", ("1600 Pennsylvania Ave NW, Washington, DC 20500", "ADDRESS")),  # noqa: E501
        ("Frau Weber, geboren am 3. März 1985, wohnt", ("3. März 1985", "DATE_OF_BIRTH")),
        ("DOB: 04/12/1990", ("04/12/1990", "DATE_OF_BIRTH")),
    ],
)  # fmt: skip
def test_each_class_is_found_with_its_exact_span(
    detector: PiiDetector, text: str, expected: tuple[str, str]
) -> None:
    assert expected in found(detector, text)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("IBAN: DE89 3704 0044 0532 0130 01", "IBAN"),  # check digits do not fit
        ("Karte 4111 1111 1111 1112", "CREDIT_CARD"),  # Luhn fails
        ("Sozialversicherungsnummer 15 070649 C 104", "SOCIAL_SECURITY"),
        ("Versichertennummer A123456781", "HEALTH_INSURANCE"),
        ("Personalausweis T220001294", "ID_CARD"),
        ("Version 999.1.2.3 released", "IP_ADDRESS"),
        ("Die Bestellung 86095742719 ist unterwegs.", "TAX_ID"),  # no context: any number
        ("KUNDENNR COBADEFF", "BIC"),  # the shape of a BIC, no word for one
        ("Termin am 12.03.2024 um 10 Uhr", "DATE_OF_BIRTH"),  # a date, but not a birth date
        ("Termin am 12.03.2024 um 10 Uhr", "PHONE"),
        ("When: 1984-04-27 15:25:53", "PHONE"),
        ("Kartennummer 5038 9054 7220", "PHONE"),  # a card's number, not a phone's
        ("During 1984, the company grew.", "ADDRESS"),
        ("Im Jahr 2023 wurden 12000 Einheiten verkauft.", "ADDRESS"),
    ],
)
def test_lookalikes_are_not_reported(detector: PiiDetector, text: str, label: str) -> None:
    assert label not in [name for _, name in found(detector, text)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Angela Merkel traf sich mit dem Vorstand.", "Angela Merkel"),
        ("Das Protokoll führte Ken N. Fukuda.", "Ken N. Fukuda"),
        ("Werke von Ludwig van Beethoven", "Ludwig van Beethoven"),
        ("Sehr geehrte Frau Dr. Schmidt,", "Schmidt"),
        ("Bitte leiten Sie das an Herrn Weber weiter.", "Weber"),
        ("please correct it to Dr. Justin Beet?", "Justin Beet"),
        ("hi, my name is pamela and I need help", "pamela"),
        ("Mit freundlichen Grüßen\nThomas Müller", "Thomas Müller"),
        ("Zuzana hat angerufen.", "Zuzana"),
        ("Anna Maria Weber ist die Ansprechpartnerin.", "Anna Maria Weber"),
        # after titles and greetings with dots and apostrophes in them
        ("Dear Ms. Smith,", "Smith"),
        ("Hier spricht Frau Dipl.-Ing. Müller.", "Müller"),
        ("i'm pamela from the office", "pamela"),
    ],
)
def test_person_names(detector: PiiDetector, text: str, name: str) -> None:
    assert (name, "PERSON") in found(detector, text)


@pytest.mark.parametrize(
    "text",
    [
        "Will you send the report today?",
        "Die Rose blüht im Garten.",
        "Der Bericht kommt von der Bank.",
        "Sehr geehrte Damen und Herren,",
        "I am happy with the result.",
    ],
)
def test_everyday_words_are_no_names(detector: PiiDetector, text: str) -> None:
    assert [f for f in detector.detect(text) if f.label == "PERSON"] == []


def test_offsets_point_into_the_original_text_far_into_a_long_one(detector: PiiDetector) -> None:
    filler = "Dies ist ein gewöhnlicher Satz ohne besondere Angaben. " * 200
    text = filler + "Die IBAN ist DE89 3704 0044 0532 0130 00, Mail an a.b@firma.de. " + filler
    findings = detector.detect(text)
    assert [(text[f.start : f.end], f.label) for f in findings] == [
        ("DE89 3704 0044 0532 0130 00", "IBAN"),
        ("a.b@firma.de", "EMAIL"),
    ]


def test_overlaps_keep_the_stronger_finding(detector: PiiDetector) -> None:
    # The IBAN's digits would also parse as a phone number.
    text = "Konto DE89370400440532013000"
    assert found(detector, text) == [("DE89370400440532013000", "IBAN")]
    weak, strong = Finding(0, 10, "PHONE", 0.7), Finding(5, 20, "IBAN", 0.95)
    apart = Finding(30, 35, "EMAIL", 0.6)
    assert resolve_overlaps([weak, apart, strong]) == [strong, apart]


def test_labels_choose_the_classes_and_unknown_ones_are_refused() -> None:
    only_mail = PiiDetector(labels=["EMAIL"])
    text = "Angela Merkel, a@b.de, DE89 3704 0044 0532 0130 00"
    assert [f.label for f in only_mail.detect(text)] == ["EMAIL"]
    with pytest.raises(ValueError, match="unknown PII class 'NAME'"):
        PiiDetector(labels=["NAME"])
    assert "PERSON" in LABELS and "IBAN" in LABELS


def test_threshold_drops_weak_findings() -> None:
    text = "Zuzana hat angerufen."  # a lone first name scores 0.6
    assert PiiDetector(threshold=0.5).detect(text)
    assert PiiDetector(threshold=0.7).detect(text) == []


def test_extra_recognizers_join_the_built_ins() -> None:
    class Products:
        name = "products"

        def find(self, text: str, lowered: str):  # type: ignore[no-untyped-def]
            start = lowered.find("projekt adler")
            if start >= 0:
                yield Finding(start, start + 13, "PROJECT", 0.9, self.name)

    detector = PiiDetector(labels=[*LABELS, "PROJECT"], extra=[Products()])
    text = "Projekt Adler: Angebot an a@b.de"
    assert found(detector, text) == [("Projekt Adler", "PROJECT"), ("a@b.de", "EMAIL")]


def test_empty_and_plain_texts(detector: PiiDetector) -> None:
    assert detector.detect("") == []
    assert detector.detect("Ein Satz ohne personenbezogene Daten.") == []


def test_check_digits() -> None:
    assert is_rvnr("15070649C103") and not is_rvnr("15070649C104")
    assert not is_rvnr("15073249C103")  # no 32nd of a month
    assert is_kvnr("A123456780") and not is_kvnr("A123456789")
    assert is_icao_number("T220001293") and not is_icao_number("T22000129")


def test_person_names_in_germeval_dev_stay_above_a_floor(detector: PiiDetector) -> None:
    """A regression floor on real German text (the benchmark reports the full figures)."""
    path = DATASETS / "pii" / "germeval2014_dev.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    sentences: list[list[tuple[str, str]]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            sentences.append([])
        else:
            parts = line.split("\t")
            sentences[-1].append((parts[1], parts[2]))
    hits = misses = false = 0
    for tokens in sentences[:600]:
        text = " ".join(word for word, _ in tokens)
        spans = [(f.start, f.end) for f in detector.detect(text) if f.label == "PERSON"]
        position = 0
        for word, tag in tokens:
            inside = any(s <= position < e for s, e in spans)
            gold = tag in ("B-PER", "I-PER")
            hits += inside and gold
            misses += gold and not inside
            false += inside and not gold
            position += len(word) + 1
    precision, recall = hits / (hits + false), hits / (hits + misses)
    assert precision > 0.6 and recall > 0.5, json.dumps([precision, recall])
