"""Reference rows read once per batch, for a transaction whose owner opts in.

The ingest pipeline looks up the same departments, department addresses and groups for every
mail of a batch. Those rows are configuration: mail never changes them, and a batch is one short
transaction, so it may read them once and keep them for the rest of the batch (a configuration
change committed meanwhile applies from the next batch). Keeping the ORM objects also holds them
in the session's identity map, which otherwise drops objects nobody references, so
`session.get` and relationships loaded on them cost no query either.

Only transactions that call `start` cache anything; everywhere else `cached` just loads.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar, cast

from sqlalchemy.orm import Session

T = TypeVar("T")
_KEY = "maild.batch_cache"


def start(session: Session) -> None:
    """Cache reference lookups for the rest of this session's transaction."""
    session.info[_KEY] = {}


def cached(session: Session, key: Hashable, load: Callable[[], T]) -> T:
    """`load()`, remembered under `key` when the transaction caches (None results too)."""
    cache: dict[Hashable, object] | None = session.info.get(_KEY)
    if cache is None:
        return load()
    if key not in cache:
        cache[key] = load()
    return cast(T, cache[key])
