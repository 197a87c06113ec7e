"""The near-miss guard: which pairs of questions may share an answer, German and English."""

from __future__ import annotations

import pytest

from leitstand.cache.facts import conflict, read_facts

pytestmark = pytest.mark.unit

SAME = [
    ("Wie beantrage ich Urlaub?", "Wie kann ich Urlaub beantragen?"),
    ("Wie setze ich mein Passwort zurück?", "Wie kann ich mein Passwort zurücksetzen?"),
    ("Wo finde ich den Urlaubsantrag?", "Wo finde ich den Antrag auf Urlaub?"),
    ("Kostet das 500 € oder mehr?", "Kostet das € 500 oder mehr?"),
    ("Gilt das ab 1.000 Euro?", "Gilt das ab 1,000 EUR?"),
    ("Kann ich 3GB hochladen?", "Kann ich 3 GB hochladen?"),
    (
        "Wie viele Urlaubstage habe ich im ersten Jahr?",
        "Wie viele Urlaubstage habe ich im 1. Jahr?",
    ),
    ("Can I get three monitors?", "Can I get 3 monitors?"),
    ("How long does probation last here?", "How long is the probation period?"),
    ("Where is the first aid kit?", "Where can I find a first-aid kit?"),
    ("Wann ist die Kantine geöffnet?", "Welche Öffnungszeiten hat die Kantine?"),
    ("My laptop won't turn on, what should I do?", "What should I do if my laptop doesn't start?"),
    ("How do I print from my laptop?", "How can I print from my notebook?"),
    ("How do I reset my password?", "How can I reset my password?"),
]

DIFFERENT = [
    # (cached, asked, what the reason starts with)
    ("Kündigungsfrist für Vertrag A?", "Kündigungsfrist für Vertrag B?", "facts differ"),
    ("Urlaub nach 5 Jahren?", "Urlaub nach 10 Jahren?", "facts differ"),
    ("Ist die Frist 14 Tage?", "Ist die Frist 14 Wochen?", "facts differ"),
    ("Gilt das ab 1.000 Euro?", "Gilt das ab 1.000 Dollar?", "facts differ"),
    ("Darf ich ohne Genehmigung Überstunden machen?", "Darf ich Überstunden machen?", "facts"),
    ("Why can't I access the drive?", "Why can I access the drive?", "facts differ"),
    ("Is the office open on Monday?", "Is the office open on Saturday?", "facts differ"),
    ("Hat die Kantine heute offen?", "Hat die Kantine morgen offen?", "facts differ"),
    ("Was war letzte Woche?", "Was ist nächste Woche?", "facts differ"),
    ("Garantie für die Pumpe KP-200?", "Garantie für die Pumpe KP-350?", "facts differ"),
    ("Wie melde ich mich in SAP an?", "Wie melde ich mich in Salesforce an?", "facts differ"),
    ("Wann hat Frau Becker Urlaub?", "Wann hat Frau Schulz Urlaub?", "facts differ"),
    ("Darf Frau Krüger das freigeben?", "Darf Herr Krüger das freigeben?", "facts differ"),
    ("How do I get to the Hamburg site?", "How do I get to the Munich site?", "facts differ"),
    ('Was steht in "Reisekosten 2024"?', "Was steht in „Reisekosten 2025“?", "facts differ"),
    ("Wann ist die Betriebsversammlung?", "Wo ist die Betriebsversammlung?", "asks for another"),
    ("Darf ich im Homeoffice arbeiten?", "Muss ich im Homeoffice arbeiten?", "asks for another"),
    ("How do I cancel an order?", "How can I cancel an order for a customer?", "one"),
    ("Wie komme ich zum Standort Hamburg?", "Wie komme ich zum Standort München?", "same"),
    ("Wie beantrage ich bezahlten Urlaub?", "Wie beantrage ich unbezahlten Urlaub?", "same"),
    ("Wie erhöhe ich mein Postfachlimit?", "Wie verringere ich mein Postfachlimit?", "same"),
    ("Wer ist Pate für den neuen Kollegen Ben?", "Wer ist Pate für die neue Kollegin Mia?", "same"),
    ("Which travel costs are reimbursed?", "Which travel costs are reimbursed for trains?", "one"),
]


@pytest.mark.parametrize(("cached", "asked"), SAME)
def test_rewordings_with_the_same_facts_pass(cached: str, asked: str) -> None:
    assert conflict(read_facts(cached), read_facts(asked)) is None
    assert conflict(read_facts(asked), read_facts(cached)) is None


@pytest.mark.parametrize(("cached", "asked", "reason"), DIFFERENT)
def test_questions_with_other_facts_are_refused_with_a_reason(
    cached: str, asked: str, reason: str
) -> None:
    found = conflict(read_facts(cached), read_facts(asked))
    assert found is not None
    assert found.startswith(reason), found
    assert conflict(read_facts(asked), read_facts(cached)) is not None


def test_the_signature_names_what_it_read() -> None:
    facts = read_facts("Bekommt Frau Dr. Weber ab 1. März 2.500 € für das ThinkPad X1?")
    assert facts.signature == frozenset(
        {
            "title:ms#1",
            "title:dr#1",
            "id:weber#1",
            "n:1#1",
            "t:m03#1",
            "n:2.500eur#1",
            "id:thinkpad#1",
            "id:x1#1",
        }
    )
