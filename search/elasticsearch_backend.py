"""The Elasticsearch search backend (SEARCH_BACKEND=elasticsearch), for deployments
larger than one machine's tantivy index.

Searches and writes go through an alias (ELASTICSEARCH_INDEX) over one index
`<alias>-<timestamp>` made from our index template (search/es_template.py);
`rebuild()` loads a new index and swaps the alias in one call. Query DSL is
built in es_query, replies are read in es_hits.

Cursors are search_after values plus the time of the first page (an as-of
filter on captured_at, so captures arriving meanwhile do not shift pages) and,
when the server has them, a point in time (Elasticsearch's `_pit`, or
OpenSearch's `_search/point_in_time`, which the tests' engine speaks); an
expired point in time falls back to the as-of filter alone.

At start-up the server is asked whether it has every analysis component the
index template needs (check_analysis), so a missing plugin is named with its
install command before the first document or query.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, helpers
from elasticsearch import ConnectionError as EsConnectionError

from search import query as query_language
from search.backend import FACETS, QuerySyntaxError, SearchBackend, SearchQuery, SearchResult
from search.es_hits import facet_counts, to_hit
from search.es_query import facet_aggs, filters, highlight, sort_for, text_query
from search.es_rebuild import EsRebuild, bulk_load
from search.es_template import MARK_CLOSE, MARK_OPEN, PLUGIN_OF, required_components, template_body
from search.snippet import SNIPPET_CHARS

# Sorts before the timestamps of rebuilt indices (es_rebuild.new_index_name) and matches the template.
FIRST_INDEX = "00000000000000000001"

if TYPE_CHECKING:
    from collections.abc import Iterable

    from search.backend import IndexDoc

MAX_RESULT_WINDOW = 10_000  # Elasticsearch's index.max_result_window, and the tantivy backend's
SNIPPET_SCAN_CHARS = 200_000
PIT_KEEP_ALIVE = "2m"  # a reader turning pages; later, the as-of filter alone keeps pages steady


class ElasticsearchBackend(SearchBackend):
    """A SearchBackend over an Elasticsearch alias."""

    def __init__(self, client: Elasticsearch, alias: str) -> None:
        self.client = client
        self.alias = alias
        self._pit_api: str | None = None  # "es", "opensearch" or "none", found on first use
        self._lock = threading.Lock()
        self._closed = False
        self._ensure()
        # OpenSearch (the tests' engine) differs in a few spellings.
        self._opensearch = self.client.info()["version"].get("distribution") == "opensearch"

    @classmethod
    def from_settings(cls, settings: Any) -> ElasticsearchBackend:
        """Connect with ELASTICSEARCH_URL and its credentials; the alias is ELASTICSEARCH_INDEX."""
        return cls(connect(settings), settings.elasticsearch_index)

    def _ensure(self) -> None:
        """Install the index template and, on first use, the first index behind the alias."""
        try:
            check_analysis(self.client)
            self.client.indices.put_index_template(name=self.alias, **template_body(self.alias))
            if self.client.indices.exists_alias(name=self.alias):
                return
            if self.client.indices.exists(index=self.alias):
                msg = (
                    f"ELASTICSEARCH_INDEX={self.alias!r} names an index, not an alias; "
                    "choose another name or delete that index"
                )
                raise RuntimeError(msg)
            # The first index has a fixed name: workers starting at once on an empty engine all try to make
            # it, one wins, and the others find it made (timestamped names gave the alias two write indices).
            try:
                self.client.indices.create(index=f"{self.alias}-{FIRST_INDEX}",
                                           aliases={self.alias: {"is_write_index": True}})
            except ApiError as error:
                if "resource_already_exists" not in str(error) or not self.client.indices.exists_alias(name=self.alias):
                    raise
        except EsConnectionError as error:
            msg = f"cannot reach Elasticsearch (ELASTICSEARCH_URL): {error}"
            raise RuntimeError(msg) from error

    # -- writing ---------------------------------------------------------

    def add(self, docs: Iterable[IndexDoc]) -> int:
        """Add or replace documents (the capture id is the document id); visible on return."""
        self._check_open()
        added = bulk_load(self.client, self.alias, docs)
        self.client.indices.refresh(index=self.alias)
        return added

    def delete(self, ids: Iterable[str]) -> None:
        """Delete documents by id; unknown ids are ignored."""
        self._check_open()
        actions = ({"_op_type": "delete", "_index": self.alias, "_id": doc_id} for doc_id in ids)
        for ok, item in helpers.streaming_bulk(self.client, actions, raise_on_error=False, max_retries=5):
            status = item.get("delete", {}).get("status")
            if not ok and status != 404:
                msg = f"Elasticsearch refused a delete: {item}"
                raise RuntimeError(msg)
        self.client.indices.refresh(index=self.alias)

    def rebuild(self, resume: str | None = None) -> EsRebuild:
        """A new index behind the alias, swapped in by finish(); `resume` reopens an unfinished one."""
        self._check_open()
        return EsRebuild(self.client, self.alias, resume)

    # -- reading ---------------------------------------------------------

    def count(self) -> int:
        self._check_open()
        return int(self.client.count(index=self.alias)["count"])

    def search(self, query: SearchQuery) -> SearchResult:
        """Run a query with its filters, facets, grouping and paging."""
        self._check_open()
        if query.limit < 0 or query.offset < 0:
            msg = "limit and offset must not be negative"
            raise QuerySyntaxError(msg, "offset" if query.offset < 0 else "limit")
        cursor = _decode_cursor(query.cursor) if query.cursor else None
        if cursor is not None and query.offset:
            msg = "give either a cursor or an offset, not both"
            raise QuerySyntaxError(msg, "cursor")
        offset = cursor.get("o", 0) if cursor else query.offset
        if offset + query.limit > MAX_RESULT_WINDOW:
            msg = f"results beyond the first {MAX_RESULT_WINDOW} are not available"
            raise QuerySyntaxError(msg, "offset")
        tree = query_language.parse(query.q)  # the analyzers fold it
        as_of = cursor["t"] if cursor else datetime.now(UTC).isoformat()
        body: dict[str, Any] = {
            "query": {"bool": {"must": [text_query(tree)], "filter": filters(query, as_of if cursor else None)}},
            "sort": sort_for(query),
            "size": query.limit + 1,  # one more tells whether there is a next page
            "track_total_hits": True,
            "_source": {"excludes": ["url_words"]},
        }
        aggs = facet_aggs() if query.facets else {}
        if query.group_by_url:
            # One hit per URL, its best (or newest) capture; inner_hits counts the rest.
            body["collapse"] = {"field": "url", "inner_hits": {"name": "captures", "size": 0}}
            aggs["urls"] = {"cardinality": {"field": "url", "precision_threshold": 40_000}}
            body["from"] = offset  # Elasticsearch refuses search_after with collapse on another field
        elif cursor:
            if not isinstance(cursor.get("s"), list):
                msg = "the cursor belongs to another kind of search; start again from the first page"
                raise QuerySyntaxError(msg, "cursor")
            body["search_after"] = cursor["s"]
        else:
            body["from"] = offset
        if aggs:
            body["aggs"] = aggs
        if tree is not None:
            marks = (MARK_OPEN, MARK_CLOSE)
            body["highlight"] = highlight(SNIPPET_CHARS, SNIPPET_SCAN_CHARS, *marks, opensearch=self._opensearch)
        reply, pit = self._run(body, cursor.get("p") if cursor else None)
        raw_hits = reply["hits"]["hits"]
        hits = [to_hit(raw, snippets=tree is not None) for raw in raw_hits[: query.limit]]
        aggregations = reply.get("aggregations") or {}
        total = int(reply["hits"]["total"]["value"])
        if query.group_by_url:
            total = int(aggregations["urls"]["value"])
        next_cursor = None
        if len(raw_hits) > query.limit and query.limit:
            pit = pit or self._open_pit()
            state = {"t": as_of, "p": pit}
            if query.group_by_url:
                state["o"] = offset + query.limit
            else:
                state["s"] = raw_hits[query.limit - 1]["sort"]
            next_cursor = _encode_cursor(state)
        elif pit:
            self._close_pit(pit)
        return SearchResult(
            total=total,
            hits=hits,
            facets=facet_counts(aggregations, FACETS) if query.facets else {},
            next_cursor=next_cursor,
        )

    def _run(self, body: dict[str, Any], pit: str | None) -> tuple[dict[str, Any], str | None]:
        """Search the alias, or the point in time; an expired one is dropped."""
        try:
            if pit:
                try:
                    reply = self.client.search(pit={"id": pit, "keep_alive": PIT_KEEP_ALIVE}, **body)
                    return reply.body, reply.body.get("pit_id", pit)
                except (NotFoundError, ApiError) as error:
                    if not _pit_gone(error):
                        raise
            return self.client.search(index=self.alias, **body).body, None
        except ApiError as error:
            if error.status_code == 400:
                msg = f"the search engine refused the query: {_reason(error)}"
                raise QuerySyntaxError(msg) from error
            raise

    def _open_pit(self) -> str | None:
        """A point in time over the alias, through whichever API the server has."""
        with self._lock:
            kinds = [self._pit_api] if self._pit_api else ["es", "opensearch"]
            for kind in kinds:
                if kind == "none":
                    return None
                try:
                    if kind == "es":
                        pit = self.client.open_point_in_time(index=self.alias, keep_alive=PIT_KEEP_ALIVE)["id"]
                    else:
                        path = f"/{self.alias}/_search/point_in_time?keep_alive={PIT_KEEP_ALIVE}"
                        pit = self.client.perform_request("POST", path, headers={"accept": "application/json"})[
                            "pit_id"
                        ]
                except ApiError as error:
                    if error.status_code not in (400, 404, 405):
                        raise
                    continue
                self._pit_api = kind
                return pit
            self._pit_api = "none"
            return None

    def _close_pit(self, pit: str) -> None:
        try:
            if self._pit_api == "es":
                self.client.close_point_in_time(id=pit)
            elif self._pit_api == "opensearch":
                headers = {"accept": "application/json", "content-type": "application/json"}
                self.client.perform_request("DELETE", "/_search/point_in_time", headers=headers, body={"pit_id": [pit]})
        except ApiError:
            pass  # it expires by itself

    def _check_open(self) -> None:
        if self._closed:
            msg = "search backend is closed"
            raise RuntimeError(msg)

    def close(self) -> None:
        self._closed = True
        self.client.close()


def connect(settings: Any) -> Elasticsearch:
    """A client for ELASTICSEARCH_URL with the API key or user name and password."""
    url = settings.elasticsearch_url
    if not url:
        msg = "SEARCH_BACKEND=elasticsearch needs ELASTICSEARCH_URL, e.g. ELASTICSEARCH_URL=https://es.example:9200"
        raise RuntimeError(msg)
    auth: dict[str, Any] = {}
    if settings.elasticsearch_api_key:
        auth["api_key"] = settings.elasticsearch_api_key
    elif settings.elasticsearch_username:
        auth["basic_auth"] = (settings.elasticsearch_username, settings.elasticsearch_password)
    return Elasticsearch(url, request_timeout=60, retry_on_timeout=True, max_retries=3, **auth)


def check_analysis(client: Elasticsearch) -> None:
    """Fail at start-up, naming the plugin and how to install it, when the server lacks an
    analysis component of the index template (rather than on the first index or query)."""
    parts = required_components()
    if _analyzes(client, parts):
        return
    missing = [definition["type"] for kind, definition in parts if not _analyzes(client, [(kind, definition)])]
    plugins = sorted({PLUGIN_OF.get(name, "?") for name in missing})
    fixes = []
    if "analysis-icu" in plugins:
        fixes.append("install analysis-icu on every node and restart them: `bin/opensearch-plugin install "
                     "analysis-icu` (Elasticsearch: `bin/elasticsearch-plugin install analysis-icu`)")
    if "analysis-common" in plugins:
        fixes.append("analysis-common is a module every OpenSearch and Elasticsearch distribution bundles: "
                     "use a full distribution")
    msg = (f"the search server at ELASTICSEARCH_URL lacks {', '.join(missing)} (from {', '.join(plugins)}), "
           f"which the archive's index template needs: {'; '.join(fixes) or 'see the server log'}")
    raise RuntimeError(msg)


def _analyzes(client: Elasticsearch, parts: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether `_analyze` accepts these components together (a 400 means one is unknown)."""
    body: dict[str, Any] = {"tokenizer": "whitespace", "text": "ёлка café"}
    for kind, definition in parts:
        if kind == "tokenizer":
            body["tokenizer"] = definition
        else:
            body.setdefault(kind, []).append(definition)
    try:
        client.indices.analyze(**body)
    except ApiError as error:
        if error.status_code == 400:
            return False
        raise
    return True


def _encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(state, dict) or not isinstance(state.get("t"), str):
            raise ValueError(cursor)
        datetime.fromisoformat(state["t"])
    except ValueError as error:
        msg = "the cursor is not one this search gave out; start again from the first page"
        raise QuerySyntaxError(msg, "cursor") from error
    return state


def _pit_gone(error: ApiError) -> bool:
    # By the error's type in the reply, not its wording: a closed or expired point in time.
    return error.status_code == 404 or "search_context_missing_exception" in _error_types(error)


def _error_types(error: ApiError) -> set[str]:
    """The ``type`` of the reply's error, its root causes and what caused it."""
    info = error.info if isinstance(error.info, dict) else {}
    top = info.get("error") if isinstance(info.get("error"), dict) else {}
    parts = [top, top.get("caused_by") or {}, *(top.get("root_cause") or [])]
    return {p["type"] for p in parts if isinstance(p, dict) and isinstance(p.get("type"), str)}


def _reason(error: ApiError) -> str:
    info = error.info if isinstance(error.info, dict) else {}
    root = (info.get("error") or {}).get("root_cause") or [{}]
    return root[0].get("reason") or str(error.message)
