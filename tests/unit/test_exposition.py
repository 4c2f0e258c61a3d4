"""The fast text exposition says exactly what prometheus_client says of the Collector."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from exporter.catalog import ProviderSpec
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Rules
from exporter.outcomes import Outcome
from exporter.probing.model_lists import ModelList
from exporter.probing.official import Incident, OfficialView, OfficialWord
from exporter.probing.probes import ProbeResult
from exporter.serving.collector import SnapshotCollector
from exporter.serving.exposition import TextRenderer
from exporter.stored.redis_source import RedisView, Traffic
from exporter.targets import Target

T0 = 1_800_000_000.0
ODD_MODEL = 'we"ird\\model\nid'


def monitor() -> Monitor:
    """A monitor with every kind of provider and sample: probed, failing, unconfigured, Redis."""

    def target(slug: str, key: bool = True) -> Target:
        spec = ProviderSpec(slug, "http://127.0.0.1:9/v1")
        return Target(spec, spec.probe_url(), SecretStr("k") if key else None)

    models = {"ok": ("m1", ODD_MODEL), "bad": ("m1",)}
    found = Monitor([target("ok"), target("bad"), target("nokey", key=False)], Rules(), models, T0)
    listed = ModelList(2, ("m1", ODD_MODEL), frozenset({"m1", ODD_MODEL}), True)
    for i in range(10):
        at = T0 + i
        found.record(ProbeResult("ok", Outcome.OK, at, 0.12, 200, {"connect": 0.01}, listed), at)
        found.record(ProbeResult("bad", Outcome.HTTP_5XX, at, 0.05, 503), at)
    found.record_lag(0.02)
    view = RedisView(
        up=True,
        poll_duration=0.01,
        last_success=T0,
        keys_read=7,
        parse_errors={"health:providers": 1},
        breakers={"ok": "open"},
        traffic={"ok": Traffic(10.0, 2.0, {0.5: 0.2, 0.95: 0.4})},
        backend_status={"ok": "online"},
        backend_models={"ok": {"healthy": 3, "unhealthy": 1}},
    )
    found.set_redis(view, T0 + 11)
    word = OfficialWord(
        "major",
        "Partial outage",
        (("API", "major_outage"), (ODD_MODEL, "operational")),
        (Incident("Errors", "major", None, T0),),
    )
    found.set_official("ok", OfficialView("https://s.test/api/v2/summary.json", True, word, T0))
    found.set_official(
        "bad",
        OfficialView(
            "https://t.test/api/v2/summary.json", False, None, None, "timeout", {"timeout": 2}
        ),
    )
    found.publish(T0 + 11)
    return found


def samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def families(text: str) -> set[tuple[str, str, str]]:
    return {(f.name, f.type, f.documentation) for f in text_string_to_metric_families(text)}


def test_fast_text_equals_the_collector() -> None:
    """Every family and sample of the fast renderer matches prometheus_client's, odd labels too."""
    mon = monitor()
    reference = CollectorRegistry()
    reference.register(SnapshotCollector(lambda: mon.published))
    expected = generate_latest(reference).decode()
    fast = TextRenderer(lambda: mon.published, CollectorRegistry()).render().decode()
    assert samples(fast) == samples(expected)
    assert families(fast) == families(expected)
    assert any(dict(labels).get("model") == ODD_MODEL for _, labels, _ in samples(fast))
    assert any(dict(labels).get("component") == ODD_MODEL for _, labels, _ in samples(fast))
    assert (
        "provider_exporter_status_page_errors_total",
        (("provider", "bad"), ("reason", "timeout"), ("vantage", "default")),
        2.0,
    ) in samples(fast)
    # every series about a provider names the vantage it was seen from; the exporter's own not
    for name, labels, _ in samples(fast):
        assert ("vantage" in dict(labels)) is ("provider" in dict(labels)), name


def test_cache_follows_the_snapshot() -> None:
    """A provider's lines are rebuilt when its view changes, and dropped when it goes away."""
    mon = monitor()
    renderer = TextRenderer(lambda: mon.published, CollectorRegistry())
    before = samples(renderer.render().decode())
    mon.record(ProbeResult("bad", Outcome.OK, T0 + 20, 0.05, 200), T0 + 20)
    unpublished = samples(renderer.render().decode())
    mon.publish(T0 + 20)
    after = samples(renderer.render().decode())
    assert unpublished == before  # a probe counts; the views change when published
    probes = (
        "gatewayz_provider_probes_total",
        (("outcome", "ok"), ("provider", "bad"), ("vantage", "default")),
    )
    assert (*probes, 0.0) in before
    assert (*probes, 1.0) in after
