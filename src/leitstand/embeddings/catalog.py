"""The embedding models a database holds vectors of, and which one serves searches.

``embedding_models.completed_at`` marks a model whose vectors covered every chunk. Dense
search uses the configured model once it is complete; until then the most recently
completed other model keeps serving (its embedder rebuilt from ``embedding_models.settings``),
so switching models never leaves a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    column,
    exists,
    func,
    insert,
    select,
    table,
    update,
)

from leitstand.errors import ModelError
from leitstand.store.models import Chunk, ChunkVector, utcnow
from leitstand.store.types import JsonType, UTCDateTime

# The table with the column migration 0004 added (``settings``).
_MODELS = table(
    "embedding_models",
    column("name", String),
    column("dimensions", Integer),
    column("created_at", UTCDateTime()),
    column("completed_at", UTCDateTime()),
    column("settings", JsonType()),
)


@dataclass(frozen=True)
class ModelRecord:
    name: str
    dimensions: int
    created_at: datetime
    completed_at: datetime | None
    settings: dict[str, Any] | None

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


def _select() -> Any:
    return select(
        _MODELS.c.name,
        _MODELS.c.dimensions,
        _MODELS.c.created_at,
        _MODELS.c.completed_at,
        _MODELS.c.settings,
    )


def list_models(connection: Connection) -> list[ModelRecord]:
    rows = connection.execute(_select().order_by(_MODELS.c.created_at, _MODELS.c.name))
    return [ModelRecord(*row) for row in rows]


def get_model(connection: Connection, name: str) -> ModelRecord | None:
    row = connection.execute(_select().where(_MODELS.c.name == name)).first()
    return ModelRecord(*row) if row is not None else None


def register_model(
    connection: Connection, name: str, dimensions: int, settings: dict[str, Any]
) -> ModelRecord:
    """The model's record, created on first use; an error if its dimensions changed."""
    found = get_model(connection, name)
    if found is None:
        connection.execute(
            insert(_MODELS).values(
                name=name, dimensions=dimensions, created_at=utcnow(), settings=settings
            )
        )
        found = get_model(connection, name)
        assert found is not None
    elif found.dimensions != dimensions:
        raise ModelError(
            f"the embedding model {name!r} now gives {dimensions}-dimensional vectors, but this "
            f"database holds {found.dimensions}-dimensional vectors of it",
            hint=f"give the new model another name, or remove the old vectors with "
            f"`leitstand embed drop {name}`",
        )
    elif found.settings != settings:
        connection.execute(update(_MODELS).where(_MODELS.c.name == name).values(settings=settings))
    return found


def pending_filter(model: str) -> Any:
    """Chunks without a vector of ``model``."""
    return ~exists(
        select(ChunkVector.chunk_id).where(
            ChunkVector.chunk_id == Chunk.id, ChunkVector.model == model
        )
    )


def vector_count(connection: Connection, model: str) -> int:
    return int(
        connection.execute(
            select(func.count()).select_from(ChunkVector).where(ChunkVector.model == model)
        ).scalar_one()
    )


def chunk_count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(Chunk)).scalar_one())


def pending_count(connection: Connection, model: str) -> int:
    """Chunks still to embed (vectors only exist for existing chunks: the counts suffice)."""
    return max(0, chunk_count(connection) - vector_count(connection, model))


def mark_complete(connection: Connection, model: str) -> bool:
    """Record that the model's vectors cover every chunk, if they do; True if now complete."""
    connection.execute(
        update(_MODELS)
        .where(
            _MODELS.c.name == model,
            _MODELS.c.completed_at.is_(None),
            ~exists(select(Chunk.id).where(pending_filter(model))),
        )
        .values(completed_at=utcnow())
    )
    found = get_model(connection, model)
    return found is not None and found.complete


def serving_model(records: list[ModelRecord], target: str) -> ModelRecord | None:
    """The model dense search uses: the configured one when complete, else the most
    recently completed other one, else none."""
    by_name = {record.name: record for record in records}
    wanted = by_name.get(target)
    if wanted is not None and wanted.complete:
        return wanted
    done = [record for record in records if record.complete]
    return max(done, key=lambda record: record.completed_at or record.created_at, default=None)


def delete_model(connection: Connection, model: str) -> None:
    """The model's record; its vectors go with it (ON DELETE CASCADE)."""
    connection.execute(_MODELS.delete().where(_MODELS.c.name == model))
