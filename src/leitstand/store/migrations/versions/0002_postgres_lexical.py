"""PostgreSQL lexical index: the chunks' terms as tsvectors, a GIN index and exact BM25 statistics.

Revision ID: 0002
Revises: 0001

SQLite already has its FTS5 table from 0001, so this migration does nothing there.

On PostgreSQL, BM25 needs what FTS5 keeps internally:

- ``chunks.lexical_body`` and ``chunks.lexical_context``: stored generated tsvectors of
  ``analysed`` and ``analysed_context``, one lexeme per analysed term with its positions.
  They are built by ``leitstand_lexemes()``, which reads the stored lexemes verbatim
  (tsvector input syntax) instead of running PostgreSQL's text parser: the parser does not
  reproduce leitstand's analyser (it splits "12e3x" into "12e3" and "x", and its notion of a
  letter depends on the server's locale). A tsvector keeps at most 256 positions per lexeme,
  so a term's frequency within one chunk counts up to 256.
- ``chunks.context_term_count``: the length of ``analysed_context`` in terms (the body's is
  ``term_count``).
- GIN indexes on both tsvectors find the chunks that contain any query term.
- ``lexical_terms``: per term, the number of chunks containing it in either column (BM25's
  document frequency); ``lexical_stats``: one row with the number of chunks and the total
  lengths of both columns.

Statement-level triggers with transition tables keep both tables exact: one aggregated update
per INSERT, UPDATE or DELETE statement on ``chunks``, including deletes that cascade from
documents and sources; TRUNCATE resets them. Each change locks the ``lexical_stats`` row
first, so writers of the index queue behind one another until commit instead of locking
``lexical_terms`` rows in different orders (which could deadlock). Readers never wait: they
see the statistics of their own snapshot, consistent with the chunks they see.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LEXEMES = r"""
CREATE FUNCTION leitstand_lexemes(analysed text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(
        string_agg(
            '''' || replace(replace(term, '\', '\\'), '''', '''''') || ''':' || position,
            ' '
        ),
        ''
    )::tsvector
    FROM unnest(string_to_array(analysed, ' ')) WITH ORDINALITY AS terms(term, position)
    WHERE term <> '';
END
"""

_TERM_COUNT = """
CREATE FUNCTION leitstand_term_count(analysed text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT count(*)::integer FROM unnest(string_to_array(analysed, ' ')) AS terms(term)
    WHERE term <> '';
END
"""

# Applies a change to the statistics: chunks added (+) or removed (-), their summed lengths,
# and per term the change in the number of chunks that contain it.
_APPLY = """
CREATE FUNCTION leitstand_lexical_apply(
    chunks_delta bigint, body_delta bigint, context_delta bigint, terms text[], deltas bigint[]
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF chunks_delta = 0 AND body_delta = 0 AND context_delta = 0
            AND coalesce(cardinality(terms), 0) = 0 THEN
        RETURN;
    END IF;
    -- First lock: whoever changes the index holds this row until commit (see the module).
    UPDATE lexical_stats
    SET chunk_count = chunk_count + chunks_delta,
        body_terms = body_terms + body_delta,
        context_terms = context_terms + context_delta
    WHERE id = 1;
    INSERT INTO lexical_terms AS t (term, chunk_count)
    SELECT d.term, d.delta FROM unnest(terms, deltas) AS d(term, delta)
    WHERE d.delta > 0
    ORDER BY d.term
    ON CONFLICT (term) DO UPDATE SET chunk_count = t.chunk_count + excluded.chunk_count;
    UPDATE lexical_terms AS t SET chunk_count = t.chunk_count + d.delta
    FROM unnest(terms, deltas) AS d(term, delta)
    WHERE d.delta < 0 AND t.term = d.term;
    DELETE FROM lexical_terms AS t
    USING unnest(terms, deltas) AS d(term, delta)
    WHERE d.delta < 0 AND t.term = d.term AND t.chunk_count <= 0;
END
$$
"""

# One function for the three row-changing statements; each trigger names its transition
# tables ``old_chunks`` / ``new_chunks``, and only the branch for its own operation runs.
_STATEMENT = """
CREATE FUNCTION leitstand_lexical_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    n bigint := 0;
    body bigint := 0;
    context bigint := 0;
    terms text[];
    deltas bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*), coalesce(sum(term_count), 0), coalesce(sum(context_term_count), 0)
        INTO n, body, context FROM new_chunks;
        SELECT array_agg(term ORDER BY term), array_agg(delta ORDER BY term)
        INTO terms, deltas
        FROM (
            SELECT term, count(*) AS delta
            FROM new_chunks, unnest(tsvector_to_array(lexical_body || lexical_context)) AS term
            GROUP BY term
        ) AS changes;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT -count(*), -coalesce(sum(term_count), 0), -coalesce(sum(context_term_count), 0)
        INTO n, body, context FROM old_chunks;
        SELECT array_agg(term ORDER BY term), array_agg(delta ORDER BY term)
        INTO terms, deltas
        FROM (
            SELECT term, -count(*) AS delta
            FROM old_chunks, unnest(tsvector_to_array(lexical_body || lexical_context)) AS term
            GROUP BY term
        ) AS changes;
    ELSE
        SELECT coalesce(sum(term_count), 0), coalesce(sum(context_term_count), 0)
        INTO body, context FROM new_chunks;
        SELECT body - coalesce(sum(term_count), 0), context - coalesce(sum(context_term_count), 0)
        INTO body, context FROM old_chunks;
        SELECT array_agg(term ORDER BY term), array_agg(delta ORDER BY term)
        INTO terms, deltas
        FROM (
            SELECT term, sum(delta) AS delta
            FROM (
                SELECT term, 1 AS delta
                FROM new_chunks, unnest(tsvector_to_array(lexical_body || lexical_context)) AS term
                UNION ALL
                SELECT term, -1
                FROM old_chunks, unnest(tsvector_to_array(lexical_body || lexical_context)) AS term
            ) AS both_sides
            GROUP BY term
            HAVING sum(delta) <> 0
        ) AS changes;
    END IF;
    PERFORM leitstand_lexical_apply(n, body, context, terms, deltas);
    RETURN NULL;
END
$$
"""

_TRUNCATE = """
CREATE FUNCTION leitstand_lexical_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
    op.execute(_TERM_COUNT)
    op.execute(
        "ALTER TABLE chunks "
        "ADD COLUMN lexical_body tsvector NOT NULL "
        "GENERATED ALWAYS AS (leitstand_lexemes(analysed)) STORED, "
        "ADD COLUMN lexical_context tsvector NOT NULL "
        "GENERATED ALWAYS AS (leitstand_lexemes(analysed_context)) STORED, "
        "ADD COLUMN context_term_count integer NOT NULL "
        "GENERATED ALWAYS AS (leitstand_term_count(analysed_context)) STORED"
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
    # Chunks written before this migration (the table is locked by the ALTER above).
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
    op.execute(_APPLY)
    op.execute(_STATEMENT)
    op.execute(_TRUNCATE)
    op.execute(
        "CREATE TRIGGER chunks_lexical_insert AFTER INSERT ON chunks "
        "REFERENCING NEW TABLE AS new_chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION leitstand_lexical_statement()"
    )
    op.execute(
        "CREATE TRIGGER chunks_lexical_delete AFTER DELETE ON chunks "
        "REFERENCING OLD TABLE AS old_chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION leitstand_lexical_statement()"
    )
    op.execute(
        "CREATE TRIGGER chunks_lexical_update AFTER UPDATE ON chunks "
        "REFERENCING OLD TABLE AS old_chunks NEW TABLE AS new_chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION leitstand_lexical_statement()"
    )
    op.execute(
        "CREATE TRIGGER chunks_lexical_truncate AFTER TRUNCATE ON chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION leitstand_lexical_truncate()"
    )


def downgrade() -> None:
    raise NotImplementedError("leitstand migrations are append-only")
