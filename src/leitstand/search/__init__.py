"""Search: analysis, lexical indexes on SQLite and PostgreSQL, and the retriever."""
