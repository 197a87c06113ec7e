from __future__ import annotations

import pytest

from leitstand.ingest.loaders.base import LoadContext, LoadedDocument, LoadError
from leitstand.ingest.loaders.csv import CsvLoader
from leitstand.ingest.loaders.registry import LoaderRegistry

pytestmark = pytest.mark.unit


def load(data: bytes, path: str = "export.csv") -> tuple[LoadedDocument, LoadContext]:
    context = LoadContext(path=path)
    return CsvLoader().load(data, context), context


def rows(document: LoadedDocument) -> list[str]:
    assert all(block.kind == "table_row" for block in document.blocks)
    return [block.text for block in document.blocks]


def test_registered_for_csv_and_tsv() -> None:
    registry = LoaderRegistry()
    assert isinstance(registry.for_path("a.csv"), CsvLoader)
    assert isinstance(registry.for_path("b.TSV"), CsvLoader)


def test_german_excel_export() -> None:
    data = (
        "Kunde;Ort;Umsatz 2024;Ansprechpartner\r\n"
        "Müller GmbH;Köln;1.234,56;Jörg Weiß\r\n"
        ";;;\r\n"
        "Bäckerei Schäfer;Großenhain;99,50;\r\n"
    ).encode("cp1252")

    document, context = load(data, "kunden/Umsätze 2024.csv")

    assert rows(document) == [
        "Kunde: Müller GmbH; Ort: Köln; Umsatz 2024: 1.234,56; Ansprechpartner: Jörg Weiß",
        "Kunde: Bäckerei Schäfer; Ort: Großenhain; Umsatz 2024: 99,50",
    ]
    assert document.title == "Umsätze 2024"
    assert document.metadata == {
        "delimiter": ";",
        "rows": 2,
        "columns": ["Kunde", "Ort", "Umsatz 2024", "Ansprechpartner"],
    }
    assert len(context.warnings) == 1
    assert context.warnings[0].startswith("not UTF-8; decoded as")


def test_without_header_values_are_joined() -> None:
    document, _ = load(b"2024-01-05,Pumpe,3.5\n2024-02-01,Filter,1\n")

    assert rows(document) == ["2024-01-05 | Pumpe | 3.5", "2024-02-01 | Filter | 1"]
    assert document.metadata["columns"] == []


def test_tab_separated() -> None:
    document, _ = load(b"Name\tRolle\nAnna\tSchichtleitung\n", "team.tsv")

    assert rows(document) == ["Name: Anna; Rolle: Schichtleitung"]


def test_commas_inside_fields_do_not_fool_the_delimiter() -> None:
    data = b'Text;Quelle\n"Erstens, zweitens, drittens";Handbuch\n"Ja, nein";FAQ\n'

    document, _ = load(data)

    assert rows(document) == [
        "Text: Erstens, zweitens, drittens; Quelle: Handbuch",
        "Text: Ja, nein; Quelle: FAQ",
    ]


def test_excel_sep_line_and_quoted_line_breaks() -> None:
    data = b'sep=,\nFrage,Antwort\nWer hat Dienst?,"Anna\nund Ben"\n'

    document, _ = load(data)

    assert rows(document) == ["Frage: Wer hat Dienst?; Antwort: Anna\nund Ben"]


def test_repeated_header_rows_and_extra_cells() -> None:
    data = b"Teil,Menge\nDichtung,4\nTeil,Menge\nFilter,2,Nachbestellt\n"

    document, _ = load(data)

    assert rows(document) == ["Teil: Dichtung; Menge: 4", "Teil: Filter; Menge: 2; Nachbestellt"]


def test_unreadable_csv_says_so() -> None:
    data = b'Feld\n"' + b"x" * 200_000 + b'"\n'

    with pytest.raises(LoadError) as caught:
        load(data)

    assert caught.value.reason.startswith("cannot be read as CSV (field larger than field limit")
    assert caught.value.hint
