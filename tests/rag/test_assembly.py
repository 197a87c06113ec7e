"""Context assembly: budget, repeats, MMR, merged neighbours, and exact spans throughout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import write_files
from leitstand.rag.assembly import ChunkFacts, Passage, assemble, estimate_tokens
from leitstand.search.analyser import Analyser
from leitstand.search.hits import Hit
from leitstand.store.models import Document
from leitstand.testing import ScriptedChatServer
from leitstand.text.minhash import signature
from text.boilerplate import FAMILIES

ANALYSER = Analyser(("de", "en"))

PARAGRAPHS = [
    "Für Dienstreisen gilt eine Verpflegungspauschale von 28 Euro pro vollem Kalendertag. "
    "An- und Abreisetage werden mit 14 Euro abgerechnet.",
    "Übernachtungskosten werden gegen Beleg bis zu 120 Euro pro Nacht erstattet. "
    "Teurere Hotels genehmigt die Reisestelle vorab.",
    "Die Reisekostenabrechnung ist innerhalb von sechs Monaten einzureichen. "
    "Später eingereichte Belege werden nicht mehr berücksichtigt.",
    "Bahnfahrten werden in der zweiten Klasse erstattet; ab vier Stunden Fahrzeit ist die "
    "erste Klasse erlaubt.",
    "Mietwagen sind nur zulässig, wenn kein öffentliches Verkehrsmittel zumutbar ist.",
]


class Corpus:
    """Documents made of paragraphs, and the hits and facts assembly would be given."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}
        self.spans: dict[int, tuple[int, int, int, int]] = {}  # chunk → (doc, ordinal, start, end)

    def document(self, document_id: int, paragraphs: list[str], first_chunk: int) -> None:
        text, offset = "", 0
        for ordinal, paragraph in enumerate(paragraphs):
            if text:
                text += "\n\n"
                offset += 2
            self.spans[first_chunk + ordinal] = (
                document_id,
                ordinal,
                offset,
                offset + len(paragraph),
            )
            text += paragraph
            offset += len(paragraph)
        self.texts[document_id] = text

    def hit(self, chunk_id: int, score: float, *, page: int | None = None) -> Hit:
        document_id, _, start, end = self.spans[chunk_id]
        return Hit(
            chunk_id=chunk_id,
            document_id=document_id,
            score=score,
            text=self.texts[document_id][start:end],
            heading="",
            start_char=start,
            end_char=end,
            page_start=page,
            page_end=page,
            language="de",
            title=f"doc {document_id}",
            path=f"doc{document_id}.md",
            uri="",
            source="test",
        )

    def facts(self, hits: list[Hit]) -> dict[int, ChunkFacts]:
        found = {}
        for hit in hits:
            analysed = ANALYSER.analyse(hit.text, "de")
            found[hit.chunk_id] = ChunkFacts(
                self.spans[hit.chunk_id][1], analysed, signature(analysed)
            )
        return found

    def slice(self, document_id: int, start: int, end: int) -> str:
        return self.texts[document_id][start:end]

    def assemble(self, hits: list[Hit], **options: Any) -> Any:
        settings = {"budget": 2000, "limit": 5, **options}
        return assemble(hits, self.facts(hits), self.slice, **settings)


@pytest.fixture
def corpus() -> Corpus:
    corpus = Corpus()
    corpus.document(1, PARAGRAPHS, first_chunk=10)
    corpus.document(2, [FAMILIES[0], FAMILIES[0].replace("Anna", "Marie"), FAMILIES[3]], 20)
    corpus.document(3, [FAMILIES[0], FAMILIES[6]], 30)
    return corpus


@pytest.mark.unit
def test_tokens_are_estimated_higher_for_german_words() -> None:
    english = "The travel allowance is 28 euros for every full calendar day of a business trip."
    german = "Die Verpflegungspauschale beträgt 28 Euro für jeden vollen Kalendertag der Reise."
    assert estimate_tokens("") == 0
    assert estimate_tokens(english, "en") >= len(english) / 4
    assert estimate_tokens(german, "de") > estimate_tokens(german, "en") >= len(german) / 4
    assert estimate_tokens(f"{german} {german}", "de") >= 2 * estimate_tokens(german, "de") - 1


@pytest.mark.unit
def test_neighbours_become_one_passage_with_exact_offsets_and_pages(corpus: Corpus) -> None:
    hits = [corpus.hit(11, 9.0, page=3), corpus.hit(13, 7.0, page=5), corpus.hit(12, 8.0, page=4)]
    assembly = corpus.assemble(hits)
    [passage] = assembly.passages
    assert passage.chunk_ids == (11, 12, 13)
    assert passage.chunk_id == 11 and passage.score == 9.0
    assert (passage.page_start, passage.page_end) == (3, 5)
    assert passage.text == corpus.texts[1][passage.start_char : passage.end_char]
    assert passage.start_char == hits[0].start_char and passage.end_char == hits[1].end_char
    assert assembly.merged == [(11, 12, 13)]
    assert passage.as_dict()["chunk_ids"] == [11, 12, 13]
    assert passage.location() == "pages 3–5"


@pytest.mark.unit
def test_chunks_with_a_gap_or_merging_switched_off_stay_apart(corpus: Corpus) -> None:
    hits = [corpus.hit(10, 9.0), corpus.hit(12, 8.0)]
    assert [p.chunk_ids for p in corpus.assemble(hits).passages] == [(10,), (12,)]
    hits = [corpus.hit(10, 9.0), corpus.hit(11, 8.0)]
    separate = corpus.assemble(hits, merge_neighbours=False)
    assert [p.chunk_ids for p in separate.passages] == [(10,), (11,)]
    assert all(isinstance(p, Passage) for p in separate.passages)


@pytest.mark.unit
def test_exact_and_near_repeats_of_better_ranked_chunks_are_dropped(corpus: Corpus) -> None:
    hits = [corpus.hit(20, 9.0), corpus.hit(30, 8.5), corpus.hit(21, 8.0), corpus.hit(10, 5.0)]
    assembly = corpus.assemble(hits)
    assert [p.chunk_ids for p in assembly.passages] == [(20,), (10,)]
    dropped = {d.chunk_id: d for d in assembly.dropped}
    assert dropped[30].reason == "duplicate" and dropped[30].of == 20
    assert dropped[21].reason == "near-duplicate" and dropped[21].of == 20
    assert dropped[21].similarity >= 0.85
    # A stricter threshold keeps the edited copy.
    strict = corpus.assemble(hits, threshold=0.99)
    assert 21 in {cid for p in strict.passages for cid in p.chunk_ids}


@pytest.mark.unit
def test_the_budget_holds_and_an_oversized_first_chunk_is_cut_at_a_sentence(
    corpus: Corpus,
) -> None:
    hits = [corpus.hit(10 + n, 10.0 - n) for n in range(5)]
    tight = corpus.assemble(hits, budget=70, merge_neighbours=False)
    assert tight.tokens <= 70
    assert len(tight.passages) < 5 and tight.left_out
    tiny = corpus.assemble(hits, budget=25)
    [cut] = tiny.passages
    assert tiny.trimmed == [10]
    assert cut.tokens <= 25 and cut.text.endswith(".")
    assert cut.text == corpus.texts[1][cut.start_char : cut.end_char]
    assert cut.end_char < hits[0].end_char


@pytest.mark.unit
def test_mmr_passes_over_a_redundant_candidate_for_variety() -> None:
    corpus = Corpus()
    base = FAMILIES[2]  # the travel policy
    similar = base.replace("sechs Monaten", "drei Monaten").replace("120 Euro", "150 Euro")
    similar = similar.replace("Portal", "Formular").replace("28 Euro", "24 Euro")
    corpus.document(1, [base], 1)
    corpus.document(2, [similar], 2)
    corpus.document(3, [FAMILIES[6]], 3)
    hits = [corpus.hit(1, 10.0), corpus.hit(2, 9.5), corpus.hit(3, 9.0)]
    relevance_only = corpus.assemble(hits, limit=2, mmr_lambda=1.0, threshold=1.0)
    assert [p.chunk_id for p in relevance_only.passages] == [1, 2]
    varied = corpus.assemble(hits, limit=2, mmr_lambda=0.5, threshold=1.0)
    assert [p.chunk_id for p in varied.passages] == [1, 3]
    assert varied.left_out == [2]


@pytest.mark.unit
def test_the_trace_says_what_was_merged_and_dropped(corpus: Corpus) -> None:
    hits = [corpus.hit(20, 9.0), corpus.hit(30, 8.5), corpus.hit(11, 8.0), corpus.hit(12, 7.0)]
    attributes = corpus.assemble(hits, limit=3).trace_attributes()
    assert attributes["merged"] == [[11, 12]]
    assert attributes["dropped"] == [
        {"chunk": 30, "reason": "duplicate", "of": 20, "similarity": 1.0}
    ]
    assert [p["chunks"] for p in attributes["passages"]] == [[20], [11, 12]]
    assert attributes["tokens"] == sum(p["tokens"] for p in attributes["passages"])


# -- through the corridor, on both backends -------------------------------------------------

HANDBOOK = "# Reisekosten\n\n" + "\n\n".join(PARAGRAPHS) + "\n\n# Kontakt\n\n" + FAMILIES[0] + "\n"
DOCS = {
    "handbuch.md": HANDBOOK,
    "kopie.md": "# Kopie\n\n" + FAMILIES[0] + "\n",
    "it.md": "# IT\n\n" + FAMILIES[3] + "\n",
}


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as server:
        yield server


@pytest.fixture
def ls(
    tmp_path: Path, database_url: str, open_leitstand: Any, model_server: ScriptedChatServer
) -> Any:
    model_server.reset()
    instance = open_leitstand(
        database_url,
        ingest={"chunk_chars": 200},  # a paragraph per chunk
        models={"scripted": {"base_url": model_server.url, "model": "m", "max_retries": 0}},
        use_cases={
            "offline": {"model": "extractive"},
            "chat": {"model": "scripted"},
            "short": {"model": "scripted", "max_context_tokens": 100},
        },
        default_use_case="offline",
    )
    instance.ingest(write_files(tmp_path / "docs", DOCS))
    return instance


def _document_texts(ls: Any) -> dict[int, str]:
    with ls.db.read() as session:
        return {row[0]: row[1] for row in session.execute(select(Document.id, Document.text))}


def _assemble_span(ls: Any, trace_id: str) -> Any:
    ls.tracer.flush()
    trace = ls.traces.get(trace_id)
    retrieve = next(s for s in trace.spans if s.name == "retrieve")
    [span] = [s for s in trace.spans if s.name == "assemble"]
    assert span.parent_position == retrieve.position
    return span


@pytest.mark.integration
def test_extractive_answers_cite_exact_spans_of_assembled_passages(ls: Any) -> None:
    answer = ls.ask("Wie hoch ist die Verpflegungspauschale und die Übernachtung pro Nacht?")
    assert answer.answered and "28 Euro" in answer.text
    texts = _document_texts(ls)
    for source in answer.sources:
        hit = source.hit
        assert hit.text == texts[hit.document_id][hit.start_char : hit.end_char]
        assert source.as_dict()["chunk_ids"]
    ls.tracer.flush()
    generate = next(s for s in ls.traces.get(answer.trace_id).spans if s.name == "generate")
    for sentence in generate.attributes["sentences"]:
        document = next(
            s.hit.document_id for s in answer.sources if s.hit.chunk_id == sentence["chunk"]
        )
        quoted = texts[document][sentence["start"] : sentence["end"]]
        assert " ".join(quoted.split()).removeprefix("- ") in answer.text
    span = _assemble_span(ls, answer.trace_id)
    assert span.attributes["budget"] == 2000
    assert span.attributes["tokens"] <= 2000


@pytest.mark.integration
def test_the_model_sees_merged_passages_once_and_copies_not_at_all(
    ls: Any, model_server: ScriptedChatServer
) -> None:
    model_server.enqueue("Siehe [1].")
    answer = ls.ask(
        "Verpflegungspauschale Übernachtungskosten Reisekostenabrechnung Belege", use_case="chat"
    )
    # (The words of the sources are datamarked: joined by "ˆ".)
    prompt = model_server.requests[-1].body["messages"][-1]["content"].replace("ˆ", " ")
    span = _assemble_span(ls, answer.trace_id)
    assert span.attributes["merged"], "adjacent paragraphs of the handbook were merged"
    merged = next(s for s in answer.sources if len(s.hit.as_dict()["chunk_ids"]) > 1)
    assert prompt.count("28 Euro pro vollem Kalendertag") == 1
    assert merged.hit.text.count("\n\n") >= 1  # the blank line between the chunks
    # One <source> per assembled passage; the answer lists the ones it cites.
    assert prompt.count('<source id="') == len(span.attributes["passages"])
    assert [s.number for s in answer.sources] == [1]


@pytest.mark.integration
def test_copies_from_another_file_do_not_fill_the_context(ls: Any) -> None:
    answer = ls.ask("vertrauliche Informationen Absender vernichten Kopieren Weitergabe")
    span = _assemble_span(ls, answer.trace_id)
    dropped = span.attributes["dropped"]
    assert dropped and {d["reason"] for d in dropped} == {"duplicate"}
    passages = {c for p in span.attributes["passages"] for c in p["chunks"]}
    assert all(d["of"] in passages and d["chunk"] not in passages for d in dropped)
    texts = [s.hit.text for s in answer.sources]
    assert len(set(texts)) == len(texts)


@pytest.mark.integration
def test_a_use_case_budget_limits_the_context(ls: Any, model_server: ScriptedChatServer) -> None:
    model_server.enqueue("Kurz [1].")
    answer = ls.ask("Verpflegungspauschale Übernachtungskosten Bahnfahrten", use_case="short")
    span = _assemble_span(ls, answer.trace_id)
    assert span.attributes["budget"] == 100
    assert sum(estimate_tokens(s.hit.text, s.hit.language) for s in answer.sources) <= 100
    assert span.attributes["left_out"]
