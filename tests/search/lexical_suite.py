"""The base test suite every lexical index backend passes.

A backend proves itself by subclassing :class:`LexicalIndexBaseTests` and overriding the
``database_url`` fixture with a URL of a fresh database on that backend; the index under
test is the one ``lexical_index_for`` picks for it. Documents go in through the real
ingestion pipeline and queries through the real analyser, as in production::

    class TestSqliteLexicalIndex(LexicalIndexBaseTests):
        @pytest.fixture
        def database_url(self, sqlite_url: str) -> str:
            return sqlite_url
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import pytest
from sqlalchemy import delete, select

from leitstand.config.settings import IngestSettings
from leitstand.ingest.pipeline import Ingestor, IngestReport, TextRecord
from leitstand.search.analyser import Analyser
from leitstand.search.base import LexicalIndex, LexicalWeights, SearchFilters
from leitstand.search.indexes import lexical_index_for
from leitstand.store.database import Database
from leitstand.store.models import Chunk, Document, Source
from leitstand.text.language import LanguageDetector
from leitstand.trace.recorder import Tracer

LANGUAGES = ("de", "en")

# Unrelated documents, so that the terms a test is about occur in few chunks (a term in more
# than half of all chunks has an idf of almost zero in BM25 as FTS5 computes it).
FILLER = {
    "filler/garten.txt": "Im Garten wachsen Tomaten, Bohnen und Kürbisse neben dem Zaun.",
    "filler/kueche.txt": "Die Küche bekommt einen neuen Herd und eine größere Spüle.",
    "filler/urlaub.txt": "Der Urlaub an der Ostsee fiel wegen des Regens kürzer aus.",
    "filler/verein.txt": "Der Sportverein sucht Trainer für die Jugendmannschaft im Herbst.",
    "filler/musik.txt": "Das Orchester probt jeden Donnerstag im Saal der Musikschule.",
    "filler/wetter.txt": "Morgen ziehen Gewitter auf, am Wochenende wird es wieder sonnig.",
}


@dataclass(frozen=True)
class Found:
    path: str
    score: float


@dataclass
class Corpus:
    """One database with the real pipeline in front of it, as a test uses it."""

    db: Database
    index: LexicalIndex
    analyser: Analyser
    ingestor: Ingestor

    def add(
        self,
        texts: Mapping[str, str],
        *,
        source: str = "docs",
        tags: Iterable[str] = (),
        prune: bool = False,
        title: str | None = "Notiz",
    ) -> IngestReport:
        """Ingest ``{path: text}``; every document gets the same title unless told otherwise."""
        records = [TextRecord(path=path, text=text, title=title) for path, text in texts.items()]
        report = self.ingestor.ingest_texts(records, source=source, tags=tags, prune=prune)
        assert not report.failed, report.failed
        return report

    def search(
        self,
        query: str,
        *,
        language: str = "de",
        limit: int = 20,
        filters: SearchFilters | None = None,
        index: LexicalIndex | None = None,
    ) -> list[Found]:
        terms = self.analyser.query_terms(query, [language])
        return self.search_terms(terms, limit=limit, filters=filters, index=index)

    def search_terms(
        self,
        terms: list[str],
        *,
        limit: int = 20,
        filters: SearchFilters | None = None,
        index: LexicalIndex | None = None,
    ) -> list[Found]:
        with self.db.read() as session:
            scored = (index or self.index).search(session, terms, limit=limit, filters=filters)
            rows = session.execute(
                select(Chunk.id, Document.path)
                .join(Document, Document.id == Chunk.document_id)
                .where(Chunk.id.in_([item.chunk_id for item in scored]))
            ).all()
        paths = {chunk_id: path for chunk_id, path in rows}
        return [Found(paths[item.chunk_id], item.score) for item in scored]

    def paths(
        self, query: str, *, limit: int = 20, filters: SearchFilters | None = None
    ) -> list[str]:
        return [found.path for found in self.search(query, limit=limit, filters=filters)]


def reference_bm25(db: Database, terms: list[str], weights: LexicalWeights) -> dict[int, float]:
    """BM25 as SQLite FTS5 computes it, from the stored chunks, for every matching chunk."""
    with db.read() as session:
        rows = session.execute(select(Chunk.id, Chunk.analysed, Chunk.analysed_context)).all()
    chunks = {row[0]: (row[1].split(), row[2].split()) for row in rows}
    total = sum(len(body) + len(context) for body, context in chunks.values())
    average = total / len(chunks)
    scores: dict[int, float] = {}
    for term in terms:
        containing = [cid for cid, (body, context) in chunks.items() if term in body + context]
        idf = math.log((len(chunks) - len(containing) + 0.5) / (len(containing) + 0.5))
        idf = idf if idf > 0 else 1e-6
        for cid in containing:
            body, context = chunks[cid]
            f = body.count(term) + weights.context_weight * context.count(term)
            norm = 1 - weights.b + weights.b * (len(body) + len(context)) / average
            scores[cid] = scores.get(cid, 0.0) + idf * f * (weights.k1 + 1) / (
                f + weights.k1 * norm
            )
    return scores


def open_corpus(url: str, *, memory: Literal["auto", "on", "off"] = "off") -> Corpus:
    db = Database(url)
    db.migrate()
    analyser = Analyser(LANGUAGES)
    ingestor = Ingestor(
        db, IngestSettings(), analyser, LanguageDetector(LANGUAGES), Tracer(db, enabled=False)
    )
    return Corpus(db, lexical_index_for(db, memory=memory), analyser, ingestor)


class LexicalIndexBaseTests:
    """Subclass with a ``database_url`` fixture that gives a fresh database per test."""

    @pytest.fixture
    def corpus(self, database_url: str) -> Iterator[Corpus]:
        corpus = open_corpus(database_url)
        yield corpus
        corpus.db.dispose()

    @pytest.fixture
    def filled(self, corpus: Corpus) -> Corpus:
        corpus.add(FILLER, source="filler")
        return corpus

    # -- contract ------------------------------------------------------------------------

    def test_the_index_fits_the_backend(self, corpus: Corpus) -> None:
        assert corpus.index.dialect == corpus.db.dialect

    def test_no_terms_or_unknown_terms_find_nothing(self, corpus: Corpus) -> None:
        assert corpus.search_terms(["wasserstoff"]) == []  # empty index
        corpus.add({"a.txt": "Der Elektrolyseur erzeugt Wasserstoff aus Strom."})
        assert corpus.search_terms([]) == []
        assert corpus.search_terms([""]) == []
        assert corpus.search_terms(["zzqxv"]) == []
        assert corpus.search("und oder die") == []  # stop words only: no terms at all
        assert corpus.paths("Wasserstoff") == ["a.txt"]

    def test_limit_caps_the_results_best_first(self, filled: Corpus) -> None:
        filled.add({f"pumpe{n}.txt": "Pumpe " * n + "Wartung im Keller." for n in range(1, 6)})
        found = filled.search("Pumpe", limit=3)
        assert [f.path for f in found] == ["pumpe5.txt", "pumpe4.txt", "pumpe3.txt"]
        assert filled.search("Pumpe", limit=0) == []

    # -- ranking -------------------------------------------------------------------------

    def test_any_query_term_is_enough_to_match(self, filled: Corpus) -> None:
        filled.add(
            {
                "kupfer.txt": "Das Kupferkabel liegt im Schacht.",
                "glas.txt": "Die Glasfaser endet im Technikraum.",
            }
        )
        assert sorted(filled.paths("Kupferkabel Glasfaser")) == ["glas.txt", "kupfer.txt"]

    def test_chunks_with_more_query_terms_rank_higher(self, filled: Corpus) -> None:
        filled.add(
            {
                "alle.txt": "Der Wechselrichter der Solaranlage meldet einen Isolationsfehler.",
                "zwei.txt": "Der Wechselrichter der Solaranlage läuft seit Jahren ruhig.",
                "eins.txt": "Der Wechselrichter im Lager wartet auf den Einbau heute.",
            }
        )
        found = filled.search("Isolationsfehler am Wechselrichter der Solaranlage")
        assert [f.path for f in found] == ["alle.txt", "zwei.txt", "eins.txt"]
        assert found[0].score > found[1].score > found[2].score > 0

    def test_rarer_terms_weigh_more(self, filled: Corpus) -> None:
        filled.add(
            {
                "selten.txt": "Das Protokoll nennt einen Kavitationsschaden an der Anlage.",
                "haeufig1.txt": "Das Protokoll nennt einen Lagerschaden an der Anlage.",
                "haeufig2.txt": "Das Protokoll nennt einen Dichtungsschaden an der Anlage.",
                "haeufig3.txt": "Die Anlage hat einen Riss im Gehäuse, sagt das Protokoll.",
            }
        )
        # "Protokoll" occurs in four chunks, "Kavitationsschaden" in one.
        found = filled.search("Protokoll Kavitationsschaden")
        assert found[0].path == "selten.txt"
        rest = {f.path for f in found[1:]}
        assert rest == {"haeufig1.txt", "haeufig2.txt", "haeufig3.txt"}

    def test_repeated_terms_raise_the_score(self, filled: Corpus) -> None:
        filled.add(
            {
                "zweimal.txt": "Ventil prüfen, dann das Ventil schließen.",
                "einmal.txt": "Ventil prüfen, dann den Hahn schließen.",
            }
        )
        found = filled.search("Ventil")
        assert [f.path for f in found] == ["zweimal.txt", "einmal.txt"]

    def test_shorter_chunks_rank_higher_for_the_same_match(self, filled: Corpus) -> None:
        # BM25 length normalisation: one occurrence in a short chunk says more.
        filled.add(
            {
                "kurz.txt": "Der Generator steht im Keller.",
                "lang.txt": "Der Generator steht im Keller neben Regalen voller Ordner, "
                "Kartons mit alten Rechnungen, zwei Fahrrädern und einer Werkbank.",
            }
        )
        found = filled.search("Generator")
        assert [f.path for f in found] == ["kurz.txt", "lang.txt"]
        assert found[0].score > found[1].score

    def test_title_matches_count_more_than_body_matches(self, filled: Corpus) -> None:
        filled.add({"titel.txt": "Bitte vor Beginn lesen und unterschreiben."}, title="Brandschutz")
        filled.add({"text.txt": "Bitte vor Beginn Brandschutz lesen und unterschreiben."})
        found = filled.search("Brandschutz")
        assert [f.path for f in found] == ["titel.txt", "text.txt"]
        # A weight of zero leaves the title out of the score.
        body_only = lexical_index_for(filled.db, LexicalWeights(context_weight=0.0))
        scores = {f.path: f.score for f in filled.search("Brandschutz", index=body_only)}
        assert scores["text.txt"] > scores["titel.txt"]

    # -- analysis reaches the index --------------------------------------------------------

    def test_umlauts_and_ocr_spellings_meet(self, filled: Corpus) -> None:
        filled.add(
            {
                "antrag.txt": "Anträge für Fördermittel gehen an die Geschäftsstelle.",
                "ocr.txt": "Die Gebuhren fur Prufungen stehen in der Anlage.",
            }
        )
        assert filled.paths("Antrage fur Fordermittel")[0] == "antrag.txt"
        assert filled.paths("Gebühren für Prüfungen")[0] == "ocr.txt"

    def test_hyphenated_compounds_match_parts_and_the_joined_word(self, filled: Corpus) -> None:
        filled.add({"db.txt": "Wir speichern Embeddings in Vektor-Datenbanken."})
        assert filled.paths("Vektordatenbank") == ["db.txt"]
        assert filled.paths("Datenbanken") == ["db.txt"]
        assert filled.paths("Vektor") == ["db.txt"]

    # -- filters -----------------------------------------------------------------------------

    def test_filters_by_source_language_and_tag(self, corpus: Corpus) -> None:
        corpus.add({"de.txt": "Die Turbine wird im Frühjahr gewartet und geprüft."}, source="werk")
        corpus.add(
            {"en.txt": "The turbine is serviced and inspected in the spring by the team."},
            source="plant",
            tags=["public"],
        )
        corpus.add(
            {"intern.txt": "Die Turbine hat intern die Nummer sieben und ist alt."},
            source="werk",
            tags=["intern", "alt"],
        )
        turbine = corpus.analyser.query_terms("Turbine", ["de"])

        def paths(filters: SearchFilters) -> list[str]:
            return sorted(f.path for f in corpus.search_terms(turbine, filters=filters))

        assert paths(SearchFilters()) == ["de.txt", "en.txt", "intern.txt"]
        assert paths(SearchFilters(sources=("werk",))) == ["de.txt", "intern.txt"]
        assert paths(SearchFilters(sources=("plant", "nirgends"))) == ["en.txt"]
        assert paths(SearchFilters(languages=("en",))) == ["en.txt"]
        assert paths(SearchFilters(tags=("intern",))) == ["intern.txt"]
        assert paths(SearchFilters(tags=("public", "alt"))) == ["en.txt", "intern.txt"]
        assert paths(SearchFilters(sources=("werk",), languages=("en",))) == []

    def test_filters_do_not_change_scores(self, filled: Corpus) -> None:
        filled.add({"a.txt": "Die Heizung im Büro bleibt aus."}, source="a")
        filled.add({"b.txt": "Die Heizung im Lager läuft den ganzen Winter."}, source="b")
        everything = {f.path: f.score for f in filled.search("Heizung Lager")}
        only_a = filled.search("Heizung Lager", filters=SearchFilters(sources=("a",)))
        assert [f.path for f in only_a] == ["a.txt"]
        assert only_a[0].score == pytest.approx(everything["a.txt"], rel=1e-9)

    # -- the index follows every change ----------------------------------------------------

    def test_reingesting_a_changed_document_replaces_its_chunks(self, filled: Corpus) -> None:
        filled.add({"plan.txt": "Die Leitung besteht aus Kupfer."})
        assert filled.paths("Kupfer") == ["plan.txt"]
        filled.add({"plan.txt": "Die Leitung besteht aus Messing."})
        assert filled.paths("Kupfer") == []
        assert filled.paths("Messing") == ["plan.txt"]

    def test_deleting_documents_and_sources_removes_their_chunks(self, filled: Corpus) -> None:
        filled.add({"a.txt": "Der Kran hebt zehn Tonnen.", "b.txt": "Der Kran ist gesperrt."})
        filled.add({"c.txt": "Der Kran im Hafen ist neu."}, source="hafen")
        assert sorted(filled.paths("Kran")) == ["a.txt", "b.txt", "c.txt"]
        # A document that vanished from its source, pruned by the next ingestion.
        filled.add({"a.txt": "Der Kran hebt zehn Tonnen."}, prune=True)
        assert sorted(filled.paths("Kran")) == ["a.txt", "c.txt"]
        with filled.db.write() as session:  # the whole source, through ON DELETE CASCADE
            session.execute(delete(Source).where(Source.name == "hafen"))
        assert filled.paths("Kran") == ["a.txt"]

    def test_scores_follow_inserts_replacements_and_deletes(self, filled: Corpus) -> None:
        # The statistics BM25 needs (chunk count, lengths, document frequencies) must follow
        # every change exactly: compare with BM25 computed from the chunks as they are now.
        filled.add({"a.txt": "Die Pumpe fördert Öl.", "b.txt": "Die Pumpe steht still."})
        filled.add({"c.txt": "Kühlwasser und Pumpe werden jährlich geprüft."}, source="zwei")
        filled.add({"a.txt": "Die Pumpe fördert Kühlwasser in den zweiten Kreislauf."})
        with filled.db.write() as session:
            session.execute(delete(Document).where(Document.path == "b.txt"))
        terms = filled.analyser.query_terms("Pumpe Kühlwasser Kreislauf Öl", ["de"])
        with filled.db.read() as session:
            scored = filled.index.search(session, terms, limit=20)
        expected = reference_bm25(filled.db, terms, LexicalWeights())
        assert {item.chunk_id: pytest.approx(item.score, rel=1e-9) for item in scored} == expected
