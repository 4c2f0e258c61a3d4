"""Shared fixtures: a clean exporter environment for every test, a fake upstream, a Redis."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from exporter.catalog import BUILTIN
from exporter.settings import Settings
from tests.support.redis_server import RedisServer
from tests.support.upstream import FakeUpstream

# Every variable the exporter reads, so no test sees a developer's or CI's own settings.
EXPORTER_VARIABLES = (
    {name.upper() for name in Settings.model_fields}
    | {spec.key_env for spec in BUILTIN}
    | {"GOOGLE_PROJECT_ID", "GOOGLE_VERTEX_LOCATION", "REDIS_URL", "LOKI_URL"}
)
PROVIDER_VARIABLE = re.compile(
    r"^[A-Z0-9_]+_(API_KEY|BASE_URL|STATUS_PAGE_URL|STATUS_COMPONENTS|PROBE_INTERVAL_SECONDS)$|^OTEL_"
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Remove every exporter variable from the environment for the test's duration."""
    for name in list(os.environ):
        if name in EXPORTER_VARIABLES or PROVIDER_VARIABLE.match(name):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    """A fake upstream on a free loopback port."""
    fake = await FakeUpstream().start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port, for one test."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()
