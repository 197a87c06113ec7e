"""Lexical search on PostgreSQL: BM25 that ranks exactly like SQLite FTS5's ``bm25()``.

Migration 0002 stores each chunk's analysed terms as tsvectors (GIN-indexed) and keeps the
corpus statistics exact: per term the number of chunks containing it, the number of chunks,
and their total length. One statement then finds the chunks that contain any query term and
scores them with FTS5's formula, which treats a chunk as one document whose columns weigh
differently::

    score = sum over query terms t of  idf(t) * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgD))

    f     = occurrences of t in the body + context_weight * occurrences in the context
    D     = terms in the body + terms in the context (the chunk's length)
    avgD  = the average of D over all chunks
    idf   = ln((N - n + 0.5) / (n + 0.5)), or 1e-6 where that is not positive
            (N chunks, n of them contain t)

A query term given twice counts twice, as a repeated phrase does in FTS5. FTS5 fixes k1 = 1.2
and b = 0.75; this index takes them from ``LexicalWeights``, so the two agree at those values.

The work grows with the number of chunks that contain a query term, each one read from the
table and scored by tsvector functions. Common terms match many chunks but can add little:
a term's share of a score is below ``idf * (k1 + 1)``. So when the query's terms occur in many
chunks, the statement first scores the chunks that contain its rarest terms; the worst of
the best ``limit`` of them is a score the final results must reach, and the most common terms
whose shares add up to less than that cannot lift a chunk that has nothing else to offer
into the results. Only chunks with one of the other terms are then scored. The results are
exactly those of scoring every matching chunk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnClause,
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    Text,
    TextClause,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.orm import Session

from leitstand.search.base import LexicalIndex, LexicalWeights, ScoredChunk, SearchFilters
from leitstand.store.models import Chunk

PROBE_CHUNKS_PER_RESULT = 32
"""The probe scores the rarest terms' chunks, up to about this many per requested result."""

PRUNE_ABOVE = 5_000
"""Probe only when the query's terms occur in more chunks than this (a chunk counting once per
query term in it); below, scoring every matching chunk at once is quicker."""

# The query's terms (those some chunk contains) with their weight (idf times how often the
# term was given), the upper bound of their share of a score, their document frequency n,
# and the corpus's average chunk length. The statistics are looked up per term and once for
# the corpus (subqueries), whatever the planner thinks of the two tables' sizes.
_QUERY_TERMS = text(
    """
    SELECT term, weight, weight * (CAST(:k1 AS float8) + 1) AS bound, n, avgdl
    FROM (
        SELECT term,
               times * CASE
                   WHEN ln((chunks - n + 0.5) / (n + 0.5)) > 0
                   THEN ln((chunks - n + 0.5) / (n + 0.5))
                   ELSE 1e-6
               END AS weight,
               n,
               avgdl
        FROM (
            SELECT q.term,
                   count(*) AS times,
                   (SELECT t.chunk_count FROM lexical_terms AS t WHERE t.term = q.term)::float8
                   AS n,
                   (SELECT s.chunk_count FROM lexical_stats AS s)::float8 AS chunks,
                   (SELECT (s.body_terms + s.context_terms)::float8 / greatest(s.chunk_count, 1)
                    FROM lexical_stats AS s) AS avgdl
            FROM unnest(CAST(:terms AS text[])) AS q(term)
            GROUP BY q.term
        ) AS counted
        WHERE n > 0
    ) AS weighted
    """
).columns(
    column("term", Text),
    column("weight", Float),
    column("bound", Float),
    column("n", Float),
    column("avgdl", Float),
)

# Per chunk (a LATERAL subquery that the planner flattens): how often each query term occurs,
# with the context's occurrences weighted. setweight + ts_filter cut each tsvector down to the
# query's terms in C, marking body positions A and context positions B; the concatenation
# then has one lexeme per matched term, whose positions and weights give both counts.
_FREQUENCIES = text(
    """
    SELECT hits.lexeme AS term,
           cardinality(hits.positions)
           + (CAST(:context_weight AS float8) - 1) * cardinality(array_positions(hits.weights, 'B'))
           AS f
    FROM unnest(
        ts_filter(setweight(chunks.lexical_body, 'A', CAST(:terms AS text[])), '{a}')
        || ts_filter(setweight(chunks.lexical_context, 'B', CAST(:terms AS text[])), '{b}')
    ) AS hits
    """
).columns(column("term", Text), column("f", Float))

# A tsquery matching any of the lexical_query terms chosen by {where} (over "ranked").
_ANY_OF = """(
    SELECT string_agg(
        '''' || replace(replace(term, '\\', '\\\\'), '''', '''''') || '''', ' | '
    )::tsquery
    FROM ({ranked}) AS ranked
    WHERE {where}
)"""

# The probe: the rarest terms, adding terms while their chunks stay within the budget.
_PROBE_MATCH = _ANY_OF.format(
    ranked="SELECT term, row_number() OVER (ORDER BY n, term) AS rank, "
    "sum(n) OVER (ORDER BY n, term) AS upto FROM lexical_query",
    where="rank = 1 OR upto <= CAST(:limit AS float8) * CAST(:probe_per_result AS float8)",
)

# The score to reach: the probe's worst result, if it found ``limit`` of them (else 0).
_THRESHOLD = """CASE
    WHEN (SELECT sum(n) FROM lexical_query) <= CAST(:prune_above AS float8) THEN 0
    ELSE (
        SELECT CASE WHEN count(*) >= CAST(:limit AS integer) THEN min(score) ELSE 0 END
        FROM lexical_probe
    )
END"""

# The final match: every term but the most common ones whose bounds add up to less than the
# threshold (with a margin for rounding), which leaves all terms where nothing was probed.
_FINAL_MATCH = _ANY_OF.format(
    ranked="SELECT term, sum(bound) OVER (ORDER BY n DESC, term) AS upto FROM lexical_query",
    where=f"upto * (1 + 1e-9) >= {_THRESHOLD}",
)

# Columns that migration 0002 adds on PostgreSQL only, so the shared model does not name them.
_BODY: ColumnClause[Any] = literal_column("chunks.lexical_body")
_CONTEXT: ColumnClause[Any] = literal_column("chunks.lexical_context")
_CONTEXT_TERM_COUNT = literal_column("chunks.context_term_count", Integer)


def _scored(query_terms: CTE, match: TextClause) -> Select[Any, Any]:
    """The best ``limit`` chunks matching the tsquery ``match``, with their scores."""
    frequencies = _FREQUENCIES.lateral("frequencies")
    k1 = bindparam("k1", type_=Float)
    b = bindparam("b", type_=Float)
    f = frequencies.c.f
    length = Chunk.term_count + _CONTEXT_TERM_COUNT
    norm = 1.0 - b + b * length / query_terms.c.avgdl
    # A term only in the context counts nothing at context_weight 0; with k1 = 0, 0 / 0.
    denominator = func.nullif(f + k1 * norm, 0.0, type_=Float(asdecimal=False))
    share = query_terms.c.weight * f * (k1 + 1.0) / denominator
    score: ColumnElement[float] = type_coerce(
        func.sum(func.coalesce(share, 0.0)), Float(asdecimal=False)
    ).label("score")
    query: Select[Any, Any] = (
        select(Chunk.id, score)
        .select_from(Chunk)
        .join(frequencies, true())
        .join(query_terms, query_terms.c.term == frequencies.c.term)
        .where(or_(_BODY.op("@@")(match), _CONTEXT.op("@@")(match)))
        .group_by(Chunk.id)
        .order_by(score.desc(), Chunk.id)
        .limit(bindparam("limit", type_=Integer))
    )
    return query


@cache
def _query_terms() -> CTE:
    return _QUERY_TERMS.cte("lexical_query")


@lru_cache(maxsize=256)
def _search_query(filters: SearchFilters | None) -> Select[Any, Any]:
    """The statement, built once per filter (its values are bound parameters)."""
    query_terms = _query_terms()
    probe = _scored(query_terms, text(_PROBE_MATCH))
    final = _scored(query_terms, text(_FINAL_MATCH))
    if filters:
        probe = filters.apply(probe, Chunk.document_id)
        final = filters.apply(final, Chunk.document_id)
    return final.add_cte(probe.cte("lexical_probe"))


def _usable(terms: Sequence[str]) -> list[str]:
    # The same terms SqliteLexicalIndex can express, so both backends answer alike.
    return [term for term in terms if term and '"' not in term]


class PostgresLexicalIndex(LexicalIndex):
    dialect = "postgresql"

    def __init__(
        self,
        weights: LexicalWeights | None = None,
        *,
        prune_above: int = PRUNE_ABOVE,
        probe_chunks_per_result: int = PROBE_CHUNKS_PER_RESULT,
    ) -> None:
        self.weights = weights or LexicalWeights()
        self.prune_above = prune_above
        self.probe_chunks_per_result = probe_chunks_per_result

    def search(
        self,
        session: Session | Connection,
        terms: Sequence[str],
        *,
        limit: int,
        filters: SearchFilters | None = None,
    ) -> list[ScoredChunk]:
        usable = _usable(terms)
        if not usable or limit <= 0:
            return []
        query = _search_query(filters or None)
        weights = self.weights
        # The bound on a term's share holds for k1 >= 0, 0 <= b <= 1 and weights >= 0.
        bounded = weights.k1 >= 0 and 0 <= weights.b <= 1 and weights.context_weight >= 0
        rows = session.execute(
            query,
            {
                "terms": usable,
                "context_weight": float(weights.context_weight),
                "k1": float(weights.k1),
                "b": float(weights.b),
                "limit": limit,
                "probe_per_result": self.probe_chunks_per_result,
                "prune_above": self.prune_above if bounded else math.inf,
            },
        ).all()
        return [ScoredChunk(int(row[0]), float(row[1])) for row in rows]
