"""One shared end-to-end stack for every test under tests/e2e (started once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack import Stack, running_stack, wait_until

# Every job the stack scrapes; each must be up before any e2e test runs.
JOBS = (
    "prometheus",
    "provider_exporter",
    "redis_exporter",
    "gatewayz_production",
    "gatewayz_staging",
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Fake upstream, exporter, Redis, redis_exporter, backend fixture and Prometheus, all up."""
    with running_stack(tmp_path_factory.mktemp("e2e")) as live:

        def all_up() -> bool:
            up = {
                r["metric"]["job"]: r["value"][1]
                for r in live.prometheus.query("up")
                if r["metric"]["job"] in JOBS
            }
            return all(up.get(job) == "1" for job in JOBS)

        try:
            wait_until(all_up, 30, "every scrape job up")
        except AssertionError:
            targets = live.prometheus.api("/api/v1/targets")["activeTargets"]
            errors = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
            raise AssertionError(f"targets not all up: {errors}") from None
        yield live
