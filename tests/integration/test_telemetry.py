"""Logs to Loki and spans to Tempo, against local fake receivers that decode what was sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support import upstream as fake
from tests.support.process import ExporterProcess
from tests.support.upstream import FakeUpstream, refused_url

KEY = "canary-telemetry-0123456789"


class Receiver:
    """A fake Loki push API and OTLP/HTTP trace endpoint in one app; can be made to hang."""

    def __init__(self) -> None:
        self.pushes: list[dict[str, object]] = []
        self.spans: list[object] = []
        self.hang = False
        self.url = ""

    async def loki(self, request: web.Request) -> web.Response:
        if self.hang:
            await asyncio.sleep(3600)
        self.pushes.append(await request.json())
        return web.Response(status=204)

    async def otlp(self, request: web.Request) -> web.Response:
        if self.hang:
            await asyncio.sleep(3600)
        decoded = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in decoded.resource_spans:
            for scope in resource_spans.scope_spans:
                self.spans.extend(scope.spans)
        return web.Response(status=200, content_type="application/x-protobuf")

    def streams(self) -> list[tuple[dict[str, str], dict[str, object]]]:
        return [
            (stream["stream"], json.loads(line))
            for push in self.pushes
            for stream in push["streams"]  # type: ignore[union-attr]
            for _, line in stream["values"]
        ]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/loki/api/v1/push", found.loki)
    app.router.add_post("/v1/traces", found.otlp)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield found
    await runner.cleanup()


def env(upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "GROQ_API_KEY": KEY,
        "GROQ_BASE_URL": upstream.base_url("bad"),
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": upstream.base_url("good"),
        "PROBE_INTERVAL_SECONDS": "0.5",
        "ENVIRONMENT": "test",
        **extra,
    }


async def test_state_changes_and_failures_reach_loki(
    upstream: FakeUpstream, receiver: Receiver
) -> None:
    """Batches arrive with low-cardinality labels; everything else is in the JSON line."""
    upstream.set("bad", fake.status(503))
    upstream.set("good", fake.ok())
    async with ExporterProcess(env(upstream, LOKI_URL=receiver.url)) as exporter:
        await exporter.wait_for(lambda s: s.get("provider_availability", provider="groq") == 0, 10)
        await asyncio.sleep(1.5)  # one batch interval
        m = await exporter.metrics()
    entries = receiver.streams()
    labels = {tuple(sorted(lbl)) for lbl, _ in entries}
    assert labels == {("app", "env", "level", "provider")}
    assert {lbl["app"] for lbl, _ in entries} == {"provider-exporter"}
    assert {lbl["env"] for lbl, _ in entries} == {"test"}
    down = [line for lbl, line in entries if line["event"] == "provider_state_changed"]
    assert any(line["to"] == "down" and line["provider"] == "groq" for line in down)
    failed = [line for _, line in entries if line["event"] == "probe_failed"]
    assert failed[0]["outcome"] == "http_5xx"
    assert len(receiver.pushes) < len(entries)  # batched, not one request per line
    assert m.get("provider_exporter_loki_entries_pushed_total") >= len(failed)
    assert KEY not in json.dumps(receiver.pushes)


@pytest.mark.parametrize("mode", ["down", "hanging"])
async def test_loki_and_tempo_away_cost_probes_nothing(
    upstream: FakeUpstream, receiver: Receiver, mode: str
) -> None:
    """A receiver that refuses or hangs leaves probe lag and probe counts unchanged."""
    upstream.set("bad", fake.status(503))
    upstream.set("good", fake.ok())
    receiver.hang = True
    target = receiver.url if mode == "hanging" else refused_url().removesuffix("/v1")
    values = env(upstream, LOKI_URL=target, OTEL_EXPORTER_OTLP_ENDPOINT=target)
    async with ExporterProcess(values) as exporter:
        await asyncio.sleep(6)
        m = await exporter.metrics()
        code, _, _ = await exporter.get("/metrics")
    assert code == 200
    assert m.get("gatewayz_provider_probes_total", provider="openai", outcome="ok") >= 10
    lag_count = m.get("provider_exporter_probe_lag_seconds_count")
    assert m.get("provider_exporter_probe_lag_seconds_bucket", le="1.0") == lag_count
    assert m.get("provider_exporter_loki_entries_pushed_total") == 0
    if mode == "down":
        assert m.get("provider_exporter_loki_entries_dropped_total", reason="push_failed") > 0


async def test_one_span_per_probe_with_exemplar(upstream: FakeUpstream, receiver: Receiver) -> None:
    """Each probe is a span with provider, outcome and status; its trace id is an exemplar."""
    upstream.set("bad", fake.status(503))
    upstream.set("good", fake.ok())
    values = env(upstream, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
    async with ExporterProcess(values) as exporter:
        await asyncio.sleep(3)
        code, _, body = await exporter.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert code == 200
    assert len(receiver.spans) >= 4
    attributes = [
        {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
        for span in receiver.spans
    ]
    assert {a["provider"] for a in attributes} == {"groq", "openai"}
    assert {(a["provider"], a["probe.outcome"]) for a in attributes} == {
        ("groq", "http_5xx"),
        ("openai", "ok"),
    }
    assert {a["http.response.status_code"] for a in attributes} == {200, 503}
    trace_ids = {span.trace_id.hex() for span in receiver.spans}
    exemplars = [
        line.split('trace_id="')[1].split('"')[0]
        for line in body.decode().splitlines()
        if line.startswith("provider_response_time_seconds_bucket") and "trace_id" in line
    ]
    assert exemplars
    assert set(exemplars) <= trace_ids
