"""SQLite FTS5, and the postings in memory in front of it, pass the lexical index base suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from search.lexical_suite import Corpus, LexicalIndexBaseTests, open_corpus

pytestmark = pytest.mark.integration


class TestSqliteLexicalIndex(LexicalIndexBaseTests):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestMemoryLexicalIndex(LexicalIndexBaseTests):
    """Built at the first search, then following every insert, replacement and deletion."""

    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    @pytest.fixture
    def corpus(self, database_url: str) -> Iterator[Corpus]:
        corpus = open_corpus(database_url, memory="on")
        yield corpus
        corpus.index.close()
        corpus.db.dispose()
