"""SQLite FTS5 passes the lexical index base suite."""

from __future__ import annotations

import pytest

from search.lexical_suite import LexicalIndexBaseTests

pytestmark = pytest.mark.integration


class TestSqliteLexicalIndex(LexicalIndexBaseTests):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url
