"""PostgreSQL lexical index: the chunks' terms as tsvectors, GIN indexes and exact BM25 statistics.

Revision ID: 0002
Revises: 0001

SQLite has its FTS5 table from 0001, so this migration does nothing there. On PostgreSQL it
adds what FTS5 keeps internally, so that ``PostgresLexicalIndex`` can rank like ``bm25()``:

``chunks.lexical_body``, ``chunks.lexical_context``
    Stored generated tsvectors of ``analysed`` and ``analysed_context``: one lexeme per
    analysed term, with its positions. ``leitstand_lexemes()`` reads the stored terms verbatim
    (tsvector input syntax) instead of running PostgreSQL's text parser, which does not
    reproduce leitstand's analyser: it splits "12e3x" into "12e3" and "x", and what it takes
    for a letter depends on the server's locale. A tsvector keeps at most 256 positions of a
    lexeme, so a term's frequency in one chunk counts up to 256. Both are kept in the row
    (STORAGE MAIN) because a search reads them for every matching chunk.
``chunks.context_term_count``
    The length of ``analysed_context`` in terms (the body's is ``term_count``).
``ix_chunks_lexical_body``, ``ix_chunks_lexical_context``
    GIN indexes that find the chunks containing any of the query's terms.
``lexical_terms``, ``lexical_stats``
    Per term, the number of chunks containing it in either column (BM25's document
    frequency); and in one row, the number of chunks and the total lengths of both columns.

Triggers keep these two tables exact without making writers wait for one another. A
statement-level trigger (with transition tables: one call per INSERT, UPDATE or DELETE,
also for deletes that cascade from documents and sources) records each changed chunk's
terms and lengths in ``lexical_pending``. At commit, a deferred constraint trigger on
``lexical_pending_xacts`` fires once per writing transaction, adds the records up and
applies them: one upsert per distinct term and transaction, however the chunks were written
(an executemany sends each row as an INSERT of its own). It locks the ``lexical_stats`` row
first and then ``lexical_terms`` rows in term order, so concurrent writers queue only for the
moment of their commit: no lock on a common term is held while an ingestion runs, and no two
writers can deadlock here. Readers never wait, and see the statistics that belong to the
chunks of their snapshot (a transaction's own chunks are counted when it commits). TRUNCATE
resets everything. The pending tables are UNLOGGED: they only hold rows of transactions
still running, which a crash aborts anyway.

Writers must run at READ COMMITTED, PostgreSQL's default: at REPEATABLE READ or above, a
commit that finds the ``lexical_stats`` row updated by a concurrent commit fails with a
serialization error and has to be retried.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# PL/pgSQL rather than SQL: it keeps its plan for the session, which matters when every
# chunk arrives in an INSERT statement of its own.
_LEXEMES = r"""
CREATE FUNCTION leitstand_lexemes(analysed text) RETURNS tsvector
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN (
        SELECT coalesce(
            string_agg(
                '''' || replace(replace(term, '\', '\\'), '''', '''''') || ''':' || position,
                ' '
            ),
            ''
        )::tsvector
        FROM unnest(string_to_array(analysed, ' ')) WITH ORDINALITY AS terms(term, position)
        WHERE term <> ''
    );
END
$$
"""

# Records, for the commit, what one statement changed: per chunk added (+1) or removed (-1),
# its lengths and its distinct terms. Each trigger names its transition tables old_chunks /
# new_chunks, and only the branch for its own operation runs. An UPDATE counts only where
# the indexed content changed: the new rows minus the old ones, and the old minus the new.
_STATEMENT = """
CREATE FUNCTION leitstand_lexical_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    recorded bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO lexical_pending (xact, sign, term_count, context_term_count, terms)
        SELECT pg_current_xact_id(), 1, term_count, context_term_count,
               tsvector_to_array(lexical_body || lexical_context)
        FROM new_chunks;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO lexical_pending (xact, sign, term_count, context_term_count, terms)
        SELECT pg_current_xact_id(), -1, term_count, context_term_count,
               tsvector_to_array(lexical_body || lexical_context)
        FROM old_chunks;
    ELSE
        INSERT INTO lexical_pending (xact, sign, term_count, context_term_count, terms)
        SELECT pg_current_xact_id(), sign, term_count, context_term_count,
               tsvector_to_array(lexical_body || lexical_context)
        FROM (
            (SELECT 1 AS sign, lexical_body, lexical_context, term_count, context_term_count
             FROM new_chunks
             EXCEPT ALL
             SELECT 1, lexical_body, lexical_context, term_count, context_term_count
             FROM old_chunks)
            UNION ALL
            (SELECT -1, lexical_body, lexical_context, term_count, context_term_count
             FROM old_chunks
             EXCEPT ALL
             SELECT -1, lexical_body, lexical_context, term_count, context_term_count
             FROM new_chunks)
        ) AS changed;
    END IF;
    GET DIAGNOSTICS recorded = ROW_COUNT;
    IF recorded > 0 THEN
        INSERT INTO lexical_pending_xacts (xact) VALUES (pg_current_xact_id())
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$
"""

# At commit, once per transaction (a deferred constraint trigger): add up the transaction's
# recorded changes and apply them to the statistics.
_FLUSH = """
CREATE FUNCTION leitstand_lexical_flush() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    body bigint;
    context bigint;
    terms text[];
    deltas bigint[];
BEGIN
    DELETE FROM lexical_pending_xacts WHERE xact = NEW.xact;
    SELECT coalesce(sum(sign), 0), coalesce(sum(sign * term_count), 0),
           coalesce(sum(sign * context_term_count), 0)
    INTO n, body, context
    FROM lexical_pending WHERE xact = NEW.xact;
    SELECT array_agg(term ORDER BY term), array_agg(delta ORDER BY term)
    INTO terms, deltas
    FROM (
        SELECT term, sum(pending.sign) AS delta
        FROM lexical_pending AS pending, unnest(pending.terms) AS term
        WHERE pending.xact = NEW.xact
        GROUP BY term
        HAVING sum(pending.sign) <> 0
    ) AS changes;
    DELETE FROM lexical_pending WHERE xact = NEW.xact;
    IF n = 0 AND body = 0 AND context = 0 AND terms IS NULL THEN
        RETURN NULL;
    END IF;
    -- The first lock every committing writer takes; see the migration's notes.
    UPDATE lexical_stats
    SET chunk_count = chunk_count + n,
        body_terms = body_terms + body,
        context_terms = context_terms + context
    WHERE id = 1;
    INSERT INTO lexical_terms AS t (term, chunk_count)
    SELECT change.term, change.delta
    FROM unnest(terms, deltas) AS change(term, delta)
    WHERE change.delta > 0
    ORDER BY change.term
    ON CONFLICT (term) DO UPDATE SET chunk_count = t.chunk_count + excluded.chunk_count;
    UPDATE lexical_terms AS t
    SET chunk_count = t.chunk_count + change.delta
    FROM unnest(terms, deltas) AS change(term, delta)
    WHERE change.delta < 0 AND t.term = change.term;
    DELETE FROM lexical_terms AS t
    USING unnest(terms, deltas) AS change(term, delta)
    WHERE change.delta < 0 AND t.term = change.term AND t.chunk_count <= 0;
    RETURN NULL;
END
$$
"""

_TRUNCATE = """
CREATE FUNCTION leitstand_lexical_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM lexical_pending WHERE xact = pg_current_xact_id();
    UPDATE lexical_stats SET chunk_count = 0, body_terms = 0, context_terms = 0 WHERE id = 1;
    DELETE FROM lexical_terms;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_LEXEMES)
    op.execute(
        "ALTER TABLE chunks "
        "ADD COLUMN lexical_body tsvector NOT NULL "
        "GENERATED ALWAYS AS (leitstand_lexemes(analysed)) STORED, "
        "ADD COLUMN lexical_context tsvector NOT NULL "
        "GENERATED ALWAYS AS (leitstand_lexemes(analysed_context)) STORED, "
        "ADD COLUMN context_term_count integer NOT NULL GENERATED ALWAYS AS "
        "(cardinality(array_remove(string_to_array(analysed_context, ' '), ''))) STORED, "
        # Kept in the row (the texts move out to TOAST instead): a search reads the tsvectors
        # of every matching chunk, and fetching them from TOAST would cost several times more.
        "ALTER COLUMN lexical_body SET STORAGE MAIN, "
        "ALTER COLUMN lexical_context SET STORAGE MAIN"
    )
    op.execute("CREATE INDEX ix_chunks_lexical_body ON chunks USING gin (lexical_body)")
    op.execute("CREATE INDEX ix_chunks_lexical_context ON chunks USING gin (lexical_context)")
    op.execute(
        "CREATE TABLE lexical_stats ("
        "id smallint PRIMARY KEY CHECK (id = 1), "
        "chunk_count bigint NOT NULL, "
        "body_terms bigint NOT NULL, "
        "context_terms bigint NOT NULL)"
    )
    op.execute("CREATE TABLE lexical_terms (term text PRIMARY KEY, chunk_count bigint NOT NULL)")
    op.execute(
        "CREATE UNLOGGED TABLE lexical_pending ("
        "xact xid8 NOT NULL, "
        "sign smallint NOT NULL, "
        "term_count integer NOT NULL, "
        "context_term_count integer NOT NULL, "
        "terms text[] NOT NULL)"
    )
    op.execute("CREATE INDEX ix_lexical_pending_xact ON lexical_pending (xact)")
    op.execute("CREATE UNLOGGED TABLE lexical_pending_xacts (xact xid8 PRIMARY KEY)")
    # The chunks written before this migration (the ALTER above keeps writers out).
    op.execute(
        "INSERT INTO lexical_stats (id, chunk_count, body_terms, context_terms) "
        "SELECT 1, count(*), coalesce(sum(term_count), 0), coalesce(sum(context_term_count), 0) "
        "FROM chunks"
    )
    op.execute(
        "INSERT INTO lexical_terms (term, chunk_count) "
        "SELECT term, count(*) "
        "FROM chunks, unnest(tsvector_to_array(lexical_body || lexical_context)) AS term "
        "GROUP BY term"
    )
    op.execute(_STATEMENT)
    op.execute(_FLUSH)
    op.execute(_TRUNCATE)
    for operation, transitions in (
        ("insert", "NEW TABLE AS new_chunks"),
        ("delete", "OLD TABLE AS old_chunks"),
        ("update", "OLD TABLE AS old_chunks NEW TABLE AS new_chunks"),
    ):
        op.execute(
            f"CREATE TRIGGER chunks_lexical_{operation} AFTER {operation.upper()} ON chunks "
            f"REFERENCING {transitions} "
            "FOR EACH STATEMENT EXECUTE FUNCTION leitstand_lexical_statement()"
        )
    op.execute(
        "CREATE TRIGGER chunks_lexical_truncate AFTER TRUNCATE ON chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION leitstand_lexical_truncate()"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER lexical_pending_flush AFTER INSERT ON lexical_pending_xacts "
        "DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION leitstand_lexical_flush()"
    )


def downgrade() -> None:
    raise NotImplementedError("leitstand migrations are append-only")
