"""Bulk loading and whole-index rebuilds for the Elasticsearch backend.

A rebuild fills a new timestamped index (from the same template) with
refreshes and replicas off, turns them back on, then moves the alias in one
update_aliases call (remove the old, add the new), so every search sees
either the whole old index or the whole new one; the old is then dropped.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError, helpers

from search.backend import Rebuild, SearchUnavailable
from search.es_template import index_settings, source

if TYPE_CHECKING:
    from collections.abc import Iterable

    from search.backend import IndexDoc

CHUNK_DOCS = 500
CHUNK_BYTES = 20_000_000
MAX_RETRIES = 8  # for 429 Too Many Requests, with backoff doubling from INITIAL_BACKOFF up to MAX_BACKOFF
INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 60.0
# A server that stops answering (a node restarting, a proxy answering 502/503/504) is waited for
# this long, the unsent chunk sent again, before a bulk load gives up with SearchUnavailable.
UNAVAILABLE_GRACE = 300.0
_UNAVAILABLE = (502, 503, 504)


def new_index_name(alias: str) -> str:
    """`<alias>-<UTC timestamp>`: sorts by age, matches the template's pattern."""
    return f"{alias}-{datetime.now(UTC).strftime('%Y%m%d%H%M%S%f')}"


def bulk_load(client: Elasticsearch, index: str, docs: Iterable[IndexDoc]) -> int:
    """Index documents chunk by chunk (429s retried with backoff, a server that stopped answering
    waited for); return how many. Each chunk is sent whole again after an outage: ids make it idempotent."""
    added = 0
    docs = iter(docs)
    while chunk := list(itertools.islice(docs, CHUNK_DOCS)):
        added += _send(client, index, chunk)
    return added


def _send(client: Elasticsearch, index: str, chunk: list[IndexDoc]) -> int:
    deadline = time.monotonic() + UNAVAILABLE_GRACE
    delay = INITIAL_BACKOFF
    while True:
        try:
            return _bulk(client, index, chunk)
        except (TransportError, ApiError) as error:  # TransportError: no connection, or a timeout
            if isinstance(error, ApiError) and error.status_code not in _UNAVAILABLE:
                raise
            if time.monotonic() + delay > deadline:
                msg = (f"the search server (ELASTICSEARCH_URL) has not taken documents for {UNAVAILABLE_GRACE:.0f} s "
                       f"(last: {error}); what was sent before is kept")
                raise SearchUnavailable(msg) from error
        time.sleep(delay)  # backoff before the next attempt, as streaming_bulk does for 429s
        delay = min(delay * 2, MAX_BACKOFF)


def _bulk(client: Elasticsearch, index: str, chunk: list[IndexDoc]) -> int:
    actions = ({"_index": index, "_id": doc.id, "_source": source(doc)} for doc in chunk)
    added = 0
    try:
        for ok, _item in helpers.streaming_bulk(
            client,
            actions,
            chunk_size=CHUNK_DOCS,
            max_chunk_bytes=CHUNK_BYTES,
            max_retries=MAX_RETRIES,
            initial_backoff=INITIAL_BACKOFF,
            max_backoff=MAX_BACKOFF,
        ):
            added += ok
    except helpers.BulkIndexError as error:
        first = error.errors[0] if error.errors else {}
        msg = f"Elasticsearch refused {len(error.errors)} document(s), e.g. {first}"
        raise RuntimeError(msg) from error
    return added


class EsRebuild(Rebuild):
    """A new index behind `alias`, made live by finish()."""

    def __init__(self, client: Elasticsearch, alias: str, resume: str | None = None) -> None:
        self._client = client
        self._alias = alias
        self._done = False
        if resume is not None:  # an interrupted rebuild's index, still loading
            if not resume.startswith(f"{alias}-") or not client.indices.exists(index=resume):
                msg = f"no unfinished rebuild {resume!r} of {alias!r} to resume; run reindex without resuming"
                raise ValueError(msg)
            if resume in self._current():
                msg = f"{resume!r} is already the live index of {alias!r}; nothing to resume"
                raise ValueError(msg)
            self.index = self.name = resume
            return
        self.index = self.name = new_index_name(alias)
        # The template gives mappings and analysis; these override it while loading.
        loading = {k: v for k, v in index_settings(loading=True).items() if k != "analysis"}
        client.indices.create(index=self.index, settings=loading)

    def add(self, docs: Iterable[IndexDoc]) -> int:
        self._check()
        return bulk_load(self._client, self.index, docs)

    def finish(self) -> None:
        """Restore refreshes and replicas, then swap the alias atomically and drop the old index."""
        self._check()
        old = self._current()
        replicas = self._replicas(old[0]) if old else None
        restore: dict[str, Any] = {"refresh_interval": None}  # None: back to the default
        restore["number_of_replicas"] = replicas if replicas is not None else None
        self._client.indices.put_settings(index=self.index, settings={"index": restore})
        self._client.indices.refresh(index=self.index)
        actions: list[dict[str, Any]] = [{"remove": {"index": name, "alias": self._alias}} for name in old]
        actions.append({"add": {"index": self.index, "alias": self._alias, "is_write_index": True}})
        self._client.indices.update_aliases(actions=actions)
        self._done = True
        for name in old:
            self._client.indices.delete(index=name, ignore_unavailable=True)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._client.indices.delete(index=self.index, ignore_unavailable=True)

    def _current(self) -> list[str]:
        try:
            return sorted(self._client.indices.get_alias(name=self._alias).body)
        except NotFoundError:
            return []

    def _replicas(self, index: str) -> int | None:
        found = self._client.indices.get_settings(index=index, name="index.number_of_replicas").body
        value = found.get(index, {}).get("settings", {}).get("index", {}).get("number_of_replicas")
        return int(value) if value is not None else None

    def _check(self) -> None:
        if self._done:
            msg = f"the rebuild of {self._alias} is over (finished or aborted)"
            raise RuntimeError(msg)
