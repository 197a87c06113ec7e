"""Placeholders in, values back out — also when a stream splits a placeholder."""

from __future__ import annotations

from leitstand.guard.findings import Finding
from leitstand.guard.pii import PiiDetector
from leitstand.guard.pseudonymise import PseudonymMap, StreamRestorer, redact


def test_same_value_same_placeholder_across_messages() -> None:
    detector = PiiDetector()
    mapping = PseudonymMap()
    first = "Angela Merkel zahlt an DE89 3704 0044 0532 0130 00."
    second = "Hat Angela Merkel die Zahlung an DE89370400440532013000 freigegeben?"
    assert mapping.pseudonymise(first, detector.detect(first)) == "<PERSON_1> zahlt an <IBAN_1>."
    assert (
        mapping.pseudonymise(second, detector.detect(second))
        == "Hat <PERSON_1> die Zahlung an <IBAN_1> freigegeben?"
    )
    assert len(mapping) == 2
    assert mapping.restore("Ja, <PERSON_1> hat an <IBAN_1> gezahlt.") == (
        "Ja, Angela Merkel hat an DE89 3704 0044 0532 0130 00 gezahlt."
    )


def test_distinct_values_count_up_and_unknown_placeholders_stay() -> None:
    mapping = PseudonymMap()
    text = "a@x.de und b@x.de und A@X.de"
    findings = [Finding(0, 6, "EMAIL", 0.9), Finding(11, 17, "EMAIL", 0.9)]
    findings.append(Finding(22, 28, "EMAIL", 0.9))
    assert mapping.pseudonymise(text, findings) == "<EMAIL_1> und <EMAIL_2> und <EMAIL_1>"
    assert mapping.restore("<EMAIL_2>, <EMAIL_9>, <b>") == "b@x.de, <EMAIL_9>, <b>"


def test_redaction_keeps_only_the_class() -> None:
    text = "Ruf 0171 1234567 an"
    assert redact(text, [Finding(4, 16, "PHONE", 0.9)]) == "Ruf [PHONE] an"


def test_a_stream_that_splits_placeholders() -> None:
    mapping = PseudonymMap()
    mapping.placeholder("PERSON", "Thomas Müller")
    mapping.placeholder("IBAN", "DE89 3704 0044 0532 0130 00")
    restorer = StreamRestorer(mapping)
    pieces = ["Hallo <PER", "SON_", "1>, Ihre IBAN <", "IBAN_1> ist ", "gültig. a < b <", "3"]
    shown = "".join(restorer.feed(p) for p in pieces) + restorer.flush()
    assert shown == (
        "Hallo Thomas Müller, Ihre IBAN DE89 3704 0044 0532 0130 00 ist gültig. a < b <3"
    )
