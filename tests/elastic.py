"""pytest fixtures for the Elasticsearch backend.

With ELASTICSEARCH_URL set (and ELASTICSEARCH_API_KEY or _USERNAME/_PASSWORD
if it needs them), tests use that server. Otherwise the session starts the
real engine of tools/search_engine.py (OpenSearch 2.19.1, one node, data in a
temporary folder) behind tools/es_compat.py, which makes it answer the 9.x
client, and stops it at the end. Each test works in an alias of its own and
removes its indices afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from elasticsearch import Elasticsearch

from archive.settings import Settings
from search.elasticsearch_backend import ElasticsearchBackend, connect
from tools.es_compat import CompatProxy
from tools.search_engine import Engine, build, built


@dataclass(frozen=True)
class EsService:
    """Where the tests' search server answers."""

    url: str
    engine: Engine | None = None  # the engine this session started (None: ELASTICSEARCH_URL's server)

    def settings(self, alias: str, **overrides: object) -> Settings:
        """Settings naming this server and `alias`, credentials from the environment."""
        env = {k: v for k, v in os.environ.items() if k.startswith("ELASTICSEARCH_")}
        env.update(ELASTICSEARCH_URL=self.url, ELASTICSEARCH_INDEX=alias, SEARCH_BACKEND="elasticsearch")
        return Settings.from_env(env, **overrides)

    def client(self) -> Elasticsearch:
        return connect(self.settings("unused"))


@pytest.fixture(scope="session")
def es_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsService]:
    """The server at ELASTICSEARCH_URL, else one OpenSearch node started for this session."""
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        yield EsService(url)
        return
    if not built():  # `make setup` builds it; without that, once here, saying so on the terminal
        with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
            build()
    engine = Engine(tmp_path_factory.mktemp("search-engine")).start()
    try:
        with CompatProxy(engine.url) as proxy:
            yield EsService(proxy.url, engine)
    finally:
        engine.stop()


def drop_alias(client: Elasticsearch, alias: str) -> None:
    """Remove a test alias's indices and template."""
    # By name: Elasticsearch refuses wildcard deletes (action.destructive_requires_name).
    names = client.indices.get(index=f"{alias}-*", allow_no_indices=True, expand_wildcards="all").body
    for name in names:
        client.indices.delete(index=name, ignore_unavailable=True)
    client.options(ignore_status=404).indices.delete_index_template(name=alias)


@pytest.fixture
def es_alias(es_service: EsService) -> Iterator[str]:
    """A fresh alias name for one test, cleaned up afterwards."""
    alias = f"test-{uuid.uuid4().hex[:12]}"
    yield alias
    with es_service.client() as client:
        drop_alias(client, alias)


@pytest.fixture
def es_backend(es_service: EsService, es_alias: str) -> Iterator[ElasticsearchBackend]:
    """An empty ElasticsearchBackend in its own alias."""
    backend = ElasticsearchBackend.from_settings(es_service.settings(es_alias))
    yield backend
    backend.close()
