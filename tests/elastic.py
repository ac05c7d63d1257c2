"""pytest fixtures for the Elasticsearch backend.

With ELASTICSEARCH_URL set (and ELASTICSEARCH_API_KEY or _USERNAME/_PASSWORD
if it needs them), tests use that real server. Otherwise they start
osmem-server, an in-memory OpenSearch-compatible engine that is a STAND-IN
for Elasticsearch (no Elasticsearch server can be installed here), behind
tests/esproxy.py, which makes it answer the 9.x client. Each test works in
an alias of its own and removes its indices afterwards.
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
from tests.esproxy import EsProxy


@dataclass(frozen=True)
class EsService:
    """Where the tests' Elasticsearch (or its stand-in) answers."""

    url: str
    standin: bool  # True: osmem-server behind the proxy, not a real Elasticsearch
    upstream: str = ""  # the stand-in's own address, without the proxy

    def settings(self, alias: str, **overrides: object) -> Settings:
        """Settings naming this server and `alias`, credentials from the environment."""
        env = {k: v for k, v in os.environ.items() if k.startswith("ELASTICSEARCH_")}
        env.update(ELASTICSEARCH_URL=self.url, ELASTICSEARCH_INDEX=alias, SEARCH_BACKEND="elasticsearch")
        return Settings.from_env(env, **overrides)

    def client(self) -> Elasticsearch:
        return connect(self.settings("unused"))


def start_standin(port: int = 0) -> tuple[object, EsProxy]:
    """osmem-server on a free port plus the header-rewriting proxy in front of it (on `port`)."""
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False)
    proxy = EsProxy(server.url, port=port).start()
    return server, proxy


@pytest.fixture(scope="session")
def es_service() -> Iterator[EsService]:
    """The real server at ELASTICSEARCH_URL, else the osmem-server stand-in."""
    url = os.environ.get("ELASTICSEARCH_URL")
    if url:
        yield EsService(url, standin=False)
        return
    server, proxy = start_standin()
    try:
        yield EsService(proxy.url, standin=True, upstream=server.url)
    finally:
        proxy.close()
        server.close()


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
