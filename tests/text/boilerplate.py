"""A constructed near-duplicate set: boilerplate paragraphs repeated with small edits.

Each family is a paragraph that companies repeat (e-mail disclaimers, privacy notices,
policy clauses, German and English). ``copies`` are the paragraph with at most two words
changed (a name, a date, a number): near-duplicates. ``relatives`` keep one or two of its
sentences and replace the rest: same topic and wording in part, but not duplicates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FAMILIES = [
    "Diese E-Mail enthält vertrauliche und rechtlich geschützte Informationen. Wenn Sie nicht "
    "der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren Sie "
    "bitte sofort den Absender und vernichten Sie diese E-Mail. Das unerlaubte Kopieren sowie "
    "die unbefugte Weitergabe dieser Mail sind nicht gestattet. Müller Logistik GmbH, Sitz "
    "Hamburg, Amtsgericht Hamburg HRB 123456, Geschäftsführer: Anna Schmidt, Peter Wagner.",
    "Wir verarbeiten Ihre personenbezogenen Daten nach Art. 6 Abs. 1 lit. b DSGVO, soweit dies "
    "zur Erfüllung des Vertrags erforderlich ist. Verantwortlicher ist die Beispiel AG, "
    "Hauptstraße 5, 80331 München. Unseren Datenschutzbeauftragten erreichen Sie unter "
    "datenschutz@beispiel.de. Sie haben das Recht auf Auskunft, Berichtigung, Löschung und "
    "Einschränkung der Verarbeitung sowie das Recht auf Beschwerde bei einer Aufsichtsbehörde.",
    "Für Dienstreisen gilt eine Verpflegungspauschale von 28 Euro pro vollem Kalendertag und "
    "14 Euro für An- und Abreisetage. Übernachtungskosten werden gegen Beleg bis zu einer Höhe "
    "von 120 Euro pro Nacht erstattet. Die Reisekostenabrechnung ist innerhalb von sechs Monaten "
    "nach Ende der Reise über das Portal einzureichen; später eingereichte Belege werden nicht "
    "mehr berücksichtigt.",
    "Passwörter müssen mindestens 14 Zeichen lang sein und dürfen nicht für andere Dienste "
    "verwendet werden. Nach zehn fehlgeschlagenen Anmeldeversuchen wird das Konto für 30 "
    "Minuten gesperrt. Die Zwei-Faktor-Authentifizierung ist für alle Zugänge zu "
    "Kundendaten verpflichtend. Verdächtige E-Mails melden Sie bitte sofort an die IT-Sicherheit.",
    "This message and any attachments are confidential and intended solely for the addressee. "
    "If you have received this message in error, please notify the sender immediately and "
    "delete it from your system. Any unauthorised use, disclosure or copying is strictly "
    "prohibited. Northwind Trading Ltd, registered in England and Wales, company number 0412345.",
    "This document is provided for information purposes only and does not constitute legal, tax "
    "or investment advice. While every care has been taken in its preparation, no warranty is "
    "given as to the accuracy or completeness of the information. The authors accept no "
    "liability for any loss arising from reliance on its contents. Last reviewed on 12 March 2024.",
    "Employees may work remotely for up to three days per week after agreement with their line "
    "manager. Remote work must take place within the European Union, and company equipment must "
    "be used for all work involving customer data. Requests for longer periods abroad are "
    "reviewed by human resources and the data protection officer within ten working days.",
    "Der Einsatz generativer KI-Werkzeuge ist nur mit freigegebenen Anwendungen erlaubt. "
    "Vertrauliche Kundendaten, Quellcode und personenbezogene Daten dürfen nicht in externe "
    "Dienste eingegeben werden. Ergebnisse sind vor der Weitergabe von einem Menschen zu prüfen "
    "und als KI-gestützt zu kennzeichnen. Verstöße werden dem Informationssicherheitsbeauftragten "
    "gemeldet.",
]

FILLER = [
    "Die Kantine ist werktags von 11:30 bis 14:00 Uhr geöffnet und bietet täglich ein "
    "vegetarisches Gericht an.",
    "Meetings with external partners are scheduled through the shared calendar and confirmed by "
    "e-mail one day in advance.",
    "Das Lager in Bremen nimmt Anlieferungen nur nach vorheriger Anmeldung über das "
    "Zeitfenstersystem an.",
    "Quarterly figures are published on the intranet on the second Monday after the end of the "
    "quarter.",
    "Neue Mitarbeitende erhalten in der ersten Woche eine Einführung in die Sicherheitsregeln "
    "des Standorts.",
    "The help desk answers tickets within four working hours and escalates outages to the "
    "on-call engineer.",
]

_REPLACEMENTS = ["Berlin", "2025", "Meier", "42", "Oktober", "Köln", "Jansen", "17", "Leipzig"]


@dataclass(frozen=True)
class Text:
    text: str
    family: int
    duplicate: bool
    """A copy of its family's paragraph (at most two words changed), not a relative."""


def _edited(text: str, rng: random.Random, changes: int) -> str:
    words = text.split(" ")
    for _ in range(changes):
        position = rng.randrange(len(words))
        words[position] = rng.choice(_REPLACEMENTS)
    return " ".join(words)


def _relative(text: str, rng: random.Random) -> str:
    sentences = [s for s in text.split(". ") if s]
    keep = rng.sample(range(len(sentences)), k=max(1, len(sentences) // 3))
    parts = [
        sentences[i] if i in keep else rng.choice(FILLER).rstrip(".") for i in range(len(sentences))
    ]
    return ". ".join(parts)


def constructed_set(copies: int = 6, relatives: int = 3, seed: int = 11) -> list[Text]:
    """Every family with copies and relatives, shuffled (the original first in its family)."""
    rng = random.Random(seed)
    texts: list[Text] = []
    for family, base in enumerate(FAMILIES):
        texts.append(Text(base, family, True))
        texts.extend(
            Text(_edited(base, rng, rng.randint(0, 2)), family, True) for _ in range(copies)
        )
        texts.extend(Text(_relative(base, rng), family, False) for _ in range(relatives))
    texts.extend(Text(filler, -1 - number, False) for number, filler in enumerate(FILLER))
    rng.shuffle(texts)
    return texts


def is_true_duplicate(texts: list[Text], row: int, earlier: int) -> bool:
    left, right = texts[row], texts[earlier]
    return left.family == right.family and left.duplicate and right.duplicate
