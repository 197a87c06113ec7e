"""One folder of good and bad files through the real Ingestor into a real SQLite file.

What a user sees: every bad file is named once with what is wrong and what to do about it,
everything else is indexed and can be found, and a second run does no work.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from leitstand.config.settings import IngestSettings
from leitstand.ingest.loaders.base import Loader
from leitstand.ingest.loaders.plugin import register_loaders
from leitstand.ingest.loaders.registry import LoaderRegistry
from leitstand.ingest.pipeline import Ingestor, IngestReport
from leitstand.search.analyser import Analyser
from leitstand.search.indexes import lexical_index_for
from leitstand.search.retriever import Retriever
from leitstand.store.database import Database
from leitstand.text.language import LanguageDetector
from leitstand.trace.recorder import Tracer

pytestmark = pytest.mark.integration

MAX_FILE_MB = 1.0

# File -> a word that only this file contains, and where it must be found.
GOOD = {
    "notizen.md": "Kältemittelkreislauf",
    "readme.txt": "Schichtübergabe",
    "intranet.html": "Betriebsratssitzung",
    "handbuch.pdf": "Notdienst",
    "anweisung.docx": "Ammoniakgeruch",
    "kunden.csv": "Kesselhaus",
    "termin.eml": "Donnerstagstermin",
}
LATIN1 = "altbestand/protokoll-1998.txt"


class _CountingLoader(Loader):
    """A built-in loader that counts how often it is asked to parse a file."""

    def __init__(self, inner: Loader, calls: Counter[str]) -> None:
        self.inner = inner
        self.calls = calls
        self.name = inner.name
        self.extensions = inner.extensions

    def load(self, data: bytes, context: Any) -> Any:
        self.calls[context.path] += 1
        return self.inner.load(data, context)


@pytest.fixture
def calls() -> Counter[str]:
    return Counter()


@pytest.fixture
def ingestor(sqlite_url: str, calls: Counter[str]) -> Iterator[Ingestor]:
    db = Database(sqlite_url)
    db.migrate()
    tracer = Tracer(db)
    built_in: list[Loader] = []
    register_loaders(built_in.append)
    loaders = LoaderRegistry([_CountingLoader(loader, calls) for loader in built_in])
    analyser = Analyser(["de", "en"])
    detector = LanguageDetector(["de", "en"])
    yield Ingestor(db, IngestSettings(max_file_mb=MAX_FILE_MB), analyser, detector, tracer, loaders)
    tracer.close()
    db.dispose()


def _mail(attachment: bytes) -> bytes:
    message = EmailMessage()
    message["From"] = "leitstelle@example.com"
    message["To"] = "technik@example.com"
    message["Subject"] = "Wartung verschoben"
    message["Date"] = "Wed, 04 Mar 2026 09:00:00 +0100"
    message.set_content("Der Donnerstagstermin für die Wartung fällt aus.")
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename="plan.pdf")
    return message.as_bytes()


@pytest.fixture
def folder(
    tmp_path: Path,
    sample_pdf: bytes,
    sample_docx: bytes,
    zip_bomb: bytes,
    make_pdf: Callable[..., bytes],
) -> Path:
    root = tmp_path / "dokumente"
    (root / "altbestand").mkdir(parents=True)
    files: dict[str, bytes] = {
        # good
        "notizen.md": "# Kälte\n\nDer Kältemittelkreislauf wird jährlich geprüft.\n".encode(),
        "readme.txt": "Die Schichtübergabe findet um 6 Uhr statt.\n".encode(),
        "intranet.html": (
            b"<html><head><title>Intranet</title></head><body>"
            b"<p>Die Betriebsratssitzung ist am Freitag.</p></body></html>"
        ),
        "handbuch.pdf": sample_pdf,
        "anweisung.docx": sample_docx,
        "kunden.csv": "Kunde;Standort\nStadtwerke;Kesselhaus Nord\n".encode("cp1252"),
        "termin.eml": _mail(make_pdf([[("h1", "Ersatzplan"), ("p", "Ersatztermin ist Montag.")]])),
        LATIN1: (
            "Prüfbericht Überdruckventil\n\n"
            "Das Überdruckventil der Kühlmittelpumpe wurde geprüft. Die Größe der Dichtfläche "
            "entspricht der Norm; die Schweißnähte sind in Ordnung.\n"
        ).encode("cp1252"),
        # bad
        "kaputt.pdf": sample_pdf[: len(sample_pdf) // 2],
        "leer.txt": b"",
        "riesig.txt": b"Zeile mit Text.\n" * int(MAX_FILE_MB * 1024 * 1024 / 16 + 1000),
        "programm.txt": bytes(range(256)) * 64,
        "geheim.pdf": make_pdf([[("p", "Gehaltsliste")]], user_password="geheim"),
        "bombe.docx": zip_bomb,
        "alt.docx": b"Eigentlich eine Textdatei.",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


# File -> (what the message must say, what the hint must say; None where there is no hint).
BAD = {
    "kaputt.pdf": ("cannot be read as a PDF (the end of the file is missing", "qpdf"),
    "leer.txt": ("is empty (0 bytes)", "check the export"),
    "riesig.txt": ("MB, over the limit of 1 MB", "max_file_mb"),
    "programm.txt": ("looks like a binary file", "exclude it"),
    "geheim.pdf": ("is encrypted with a password", "qpdf --decrypt"),
    "bombe.docx": ("(a zip bomb?)", "check where the file came from"),
    "alt.docx": ("is not a Word .docx file (it is not a ZIP archive)", "save it as .docx"),
}


def _search(ingestor: Ingestor, query: str) -> list[str]:
    retriever = Retriever(
        ingestor.db, lexical_index_for(ingestor.db), ingestor.analyser, ingestor.detector
    )
    return [hit.path for hit in retriever.search(query, k=5).hits]


def test_bad_files_are_named_good_files_are_found(ingestor: Ingestor, folder: Path) -> None:
    report = ingestor.ingest(folder)

    problems = {problem.path: problem for problem in report.failed}
    assert sorted(problems) == sorted(BAD)
    for path, (message, hint) in BAD.items():
        assert message in problems[path].message, path
        if hint is None:
            assert problems[path].hint is None
        else:
            assert hint in (problems[path].hint or ""), path
    assert sorted(report.added) == sorted([*GOOD, LATIN1])
    for path, word in GOOD.items():
        assert _search(ingestor, word)[:1] == [path], word
    assert _search(ingestor, "Ersatztermin")[:1] == ["termin.eml"]  # in the mail's PDF


def test_latin1_text_is_indexed_with_a_warning(ingestor: Ingestor, folder: Path) -> None:
    report = ingestor.ingest(folder)

    assert LATIN1 in report.added
    warnings = [w.message for w in report.warnings if w.path == LATIN1]
    assert len(warnings) == 1
    assert warnings[0].startswith("not UTF-8; decoded as cp125")
    for word in ("Überdruckventil", "Größe", "Schweißnähte"):
        assert _search(ingestor, word)[:1] == [LATIN1], word


def test_second_run_does_no_work_for_unchanged_files(
    ingestor: Ingestor, folder: Path, calls: Counter[str]
) -> None:
    first = ingestor.ingest(folder)
    assert first.chunks_written > 0
    calls.clear()

    second: IngestReport = ingestor.ingest(folder)

    assert second.added == []
    assert second.updated == []
    assert sorted(second.unchanged) == sorted([*GOOD, LATIN1])
    assert second.chunks_written == 0
    # Only the files that failed are tried again (the user may have fixed them).
    assert set(calls) <= set(BAD)
    assert not set(calls) & {*GOOD, LATIN1}
    assert sorted(p.path for p in second.failed) == sorted(BAD)
