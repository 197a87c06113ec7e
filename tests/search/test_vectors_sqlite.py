"""The HNSW file next to an SQLite database passes the vector suite, and keeps up with it:
rebuilt when missing, damaged or foreign, updated by deltas otherwise, never left holding
a deleted chunk's vector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from leitstand.search.vectors.usearch_index import (
    MAGIC,
    UsearchVectorIndex,
    file_name,
    purge_vector_files,
    read_header,
)
from search.vector_suite import (
    ANIMALS,
    VectorCorpus,
    VectorIndexBaseTests,
    WordHashEmbedder,
    fillers,
    open_vector_corpus,
    word_vector,
)

pytestmark = pytest.mark.integration


class TestUsearchVectorIndex(VectorIndexBaseTests):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


@pytest.fixture
def corpus(sqlite_url: str, tmp_path: Path) -> Iterator[VectorCorpus]:
    corpus = open_vector_corpus(sqlite_url, tmp_path / "vectors")
    yield corpus
    for index in corpus.indexes:
        index.close()
    corpus.db.dispose()


def _usearch(corpus: VectorCorpus, embedder: WordHashEmbedder | None = None) -> UsearchVectorIndex:
    index = corpus.index(embedder)
    assert isinstance(index, UsearchVectorIndex)
    return index


def _file(corpus: VectorCorpus) -> Path:
    return corpus.folder / file_name(corpus.embedder.name)


def test_the_first_search_builds_the_file_and_the_next_process_loads_it(
    corpus: VectorCorpus,
) -> None:
    corpus.add(ANIMALS)
    corpus.embed()
    first = _usearch(corpus)
    assert corpus.search("cat", index=first)
    assert first.rebuilds == 1
    header = read_header(_file(corpus))
    assert header is not None
    assert (header.model, header.dimensions, header.count) == ("test/words", 48, len(ANIMALS))
    second = _usearch(corpus)
    assert corpus.search("the dog", index=second)[0][0] == "tiere/hund.txt"
    assert second.rebuilds == 0  # loaded, not rebuilt
    assert not list(corpus.folder.glob("*.tmp"))  # written under a temporary name, renamed


def test_changes_are_applied_as_deltas_without_a_rebuild(corpus: VectorCorpus) -> None:
    corpus.add(fillers(20), source="filler")
    corpus.embed()
    index = _usearch(corpus)
    corpus.search("x", index=index)
    corpus.add(ANIMALS, source="animals")
    corpus.embed()
    assert corpus.search("the horse gallops", index=index)[0][0] == "tiere/pferd.txt"
    corpus.delete_source("filler")
    assert {path for path, _ in corpus.search("filler text", index=index, limit=50)} == set(ANIMALS)
    assert index.rebuilds == 1
    assert index.size == len(ANIMALS)


def test_a_stale_file_catches_up_from_its_watermarks(corpus: VectorCorpus) -> None:
    corpus.add(fillers(10), source="filler")
    corpus.embed()
    index = _usearch(corpus)
    index.sync()
    index.close()  # the file now says: filler vectors, up to this rowid and seq
    corpus.add(ANIMALS, source="animals")
    corpus.embed()
    corpus.delete_source("filler")
    later = _usearch(corpus)
    assert {path for path, _ in corpus.search("text", index=later, limit=50)} == set(ANIMALS)
    assert later.rebuilds == 0


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_damaged_file_is_rebuilt(corpus: VectorCorpus, damage: str) -> None:
    corpus.add(ANIMALS)
    corpus.embed()
    _usearch(corpus).sync()
    path = _file(corpus)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "flip":
        data[-50] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"not an index at all")
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    index = _usearch(corpus)
    assert corpus.search("the dog", index=index)[0][0] == "tiere/hund.txt"
    assert index.rebuilds == 1
    assert path.read_bytes().startswith(MAGIC)


def test_a_file_of_another_database_is_rebuilt(tmp_path: Path) -> None:
    folder = tmp_path / "shared-vectors"
    first = open_vector_corpus(f"sqlite:///{tmp_path / 'one.db'}", folder)
    first.add(ANIMALS)
    first.embed()
    _usearch(first).sync()
    first.db.dispose()
    # The same data folder, a new database (say, deleted and ingested again): other ids.
    second = open_vector_corpus(f"sqlite:///{tmp_path / 'two.db'}", folder)
    try:
        second.add(fillers(3))
        second.embed()
        index = _usearch(second)
        assert {path for path, _ in second.search("text", index=index)} == set(fillers(3))
        assert index.rebuilds == 1
    finally:
        for index in second.indexes:
            index.close()
        second.db.dispose()


def test_a_reused_rowid_is_not_missed(corpus: VectorCorpus) -> None:
    # SQLite gives a new row the highest rowid + 1, so after the row with the highest rowid
    # is deleted, the next vector gets that same rowid: the count check must catch it.
    corpus.add(ANIMALS, source="animals")
    corpus.add({"last.txt": "the last document"}, source="last")
    corpus.embed()
    index = _usearch(corpus)
    index.sync()
    corpus.delete_source("last")
    corpus.add({"new.txt": "a brand new zebra document"}, source="new")
    corpus.embed()
    with corpus.db.read() as session:
        rowids = session.execute(text("SELECT rowid FROM chunk_vectors")).scalars().all()
    assert max(rowids) == len(ANIMALS) + 1  # the reused rowid
    assert corpus.search("a brand new zebra document", index=index)[0][0] == "new.txt"


def test_deleted_vectors_do_not_survive_in_the_file(corpus: VectorCorpus) -> None:
    secret = "The secret merger of Alpha and Omega closes on Friday."
    corpus.add({"secret.txt": secret}, source="secret")
    corpus.add(fillers(30), source="filler")
    corpus.embed()
    index = _usearch(corpus)
    index.sync()
    vector = word_vector(secret, 48).astype("<f4").tobytes()
    assert vector in _file(corpus).read_bytes()
    corpus.delete_source("secret")
    assert purge_vector_files(corpus.db, corpus.folder) == 1
    assert vector not in _file(corpus).read_bytes()
    # The loaded graph was scrubbed too, and is written without it.
    index.refresh()
    assert vector not in _file(corpus).read_bytes()
    assert index.size == 30


def test_files_of_dropped_models_are_removed(corpus: VectorCorpus) -> None:
    corpus.add(ANIMALS)
    corpus.embed()
    _usearch(corpus).sync()
    with corpus.db.write() as session:
        session.execute(text("DELETE FROM embedding_models"))
    assert purge_vector_files(corpus.db, corpus.folder) == 1
    assert not _file(corpus).exists()


def test_many_deletions_compact_the_graph(corpus: VectorCorpus) -> None:
    corpus.add(fillers(1200), source="filler")
    corpus.add(ANIMALS, source="animals")
    corpus.embed()
    index = _usearch(corpus)
    index.sync()
    corpus.delete_source("filler")
    index.sync()
    assert index.rebuilds == 2
    assert index.size == len(ANIMALS)
    assert corpus.search("the cat sleeps", index=index)[0][0] == "tiere/katze.txt"


def test_exact_scores_match_numpy(corpus: VectorCorpus) -> None:
    corpus.add({**ANIMALS, **fillers(20)})
    corpus.embed()
    index = _usearch(corpus)
    query = word_vector("the pump and the valve", 48)
    found = index.search(query, limit=5)
    with corpus.db.read() as session:
        rows = session.execute(text("SELECT chunk_id, vector FROM chunk_vectors")).all()
    scores = {int(r[0]): float(np.frombuffer(r[1], "<f4") @ query) for r in rows}
    best = sorted(scores.items(), key=lambda item: -item[1])[:5]
    assert [item.chunk_id for item in found] == [chunk_id for chunk_id, _ in best]
