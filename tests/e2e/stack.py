"""The end-to-end stack: fake upstream, exporter, Redis, redis_exporter, backend, Prometheus.

Everything is a real process or a real server on 127.0.0.1. Prometheus is started by the
project's own `prometheus/entrypoint.sh` with the project's template and rule files; the only
changes, made to temporary copies, are: scrape/evaluation intervals and rule-group intervals
1 s, the `prometheus` job's target on its loopback port, and the backend jobs' `tls_config.ca_file`
(the test CA) — everything else (job names, labels, bearer-token files, rules, `for:`
durations) is what the image runs.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.e2e.backend_fixture import BackendMetrics, make_certificates
from tests.prometheus.support import BASE_ENV, PROMETHEUS_DIR, RULES_DIR, tool
from tests.support import upstream as fake
from tests.support.backend import Backend
from tests.support.completions import Completions, Script
from tests.support.process import ExporterProcess
from tests.support.redis_server import RedisServer
from tests.support.status_pages import SUMMARY_PATH, ScriptedPage, incident, operational, summary
from tests.support.upstream import FakeUpstream, free_port

T = TypeVar("T")

ENVIRONMENT = "production"  # what a production Prometheus renders: backend and exporter agree
PROVIDERS = ("openai", "groq", "together", "fireworks")
DOWN_PROVIDER = "groq"  # the one a test turns into 503s
BREAKER_OPEN_PROVIDER = "together"  # its breaker is written as open in Redis
MODELS = "openai:model-a,groq:model-a,together:model-b"
INFERENCE = "openai:model-a,openai:model-b,groq:model-a"  # streamed from the fake upstream
LEAD_TIME_PROVIDER = "fireworks"  # its page declares an incident after it goes down


def status_pages() -> dict[str, ScriptedPage]:
    """Every provider's scripted status page: openai's reports a minor incident throughout (the
    dashboards' official panels and annotations have something to show), the others none."""
    minor = summary(
        "minor",
        {"API": "operational", "Fine-tuning": "degraded_performance"},
        [incident("Fine-tuning jobs delayed", "minor", time.time(), ["Fine-tuning"])],
    )
    return {slug: ScriptedPage(minor if slug == "openai" else operational()) for slug in PROVIDERS}


KEY = "canary-e2e-0123456789"


class LoopThread:
    """An asyncio loop in a daemon thread, so session-scoped async servers outlive any test loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll `check()` until it returns something truthy and return it; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:.0f}s")
        time.sleep(interval)


@dataclass
class Prometheus:
    """A running Prometheus and its HTTP API."""

    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        """GET an API path and return `data`; fail on any error status."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query and return its result vector."""
        data = self.api("/api/v1/query", query=expr)
        return list(data["result"]) if data["resultType"] in {"vector", "matrix"} else [data]

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """Return the active (pending or firing) alerts called `name`."""
        return [a for a in self.api("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == name]

    def rules(self) -> list[dict[str, Any]]:
        return [r for g in self.api("/api/v1/rules")["groups"] for r in g["rules"]]


@dataclass
class Stack:
    """Every running part of the end-to-end environment."""

    loop: LoopThread
    upstream: FakeUpstream
    page_host: FakeUpstream
    redis: RedisServer
    exporter: ExporterProcess
    backend: BackendMetrics
    prometheus: Prometheus
    redis_exporter_target: str
    ca_file: Path  # the throwaway CA the backend jobs trust

    def set_upstream(self, provider: str, behaviour: fake.Behaviour) -> None:
        """Change what the fake upstream answers for one provider (from the loop's thread)."""
        self.loop.call(lambda: self.upstream.set(provider, behaviour))

    def set_page(self, provider: str, document: dict[str, Any]) -> None:
        """Change what a provider's status page says (from the loop's thread)."""
        page = self.page_host.behaviours[provider]
        assert isinstance(page, ScriptedPage)
        self.loop.call(lambda: page.set(document))


def _exporter_env(
    upstream: FakeUpstream, page_host: FakeUpstream, redis: RedisServer
) -> dict[str, str]:
    env = {
        "STATUS_PAGES": "on",
        "STATUS_PAGE_POLL_SECONDS": "1",
        "PROVIDERS": ",".join(PROVIDERS),
        "PROBE_INTERVAL_SECONDS": "1",
        "PROBE_TIMEOUT_SECONDS": "2",
        "MODELS": MODELS,
        "INFERENCE_PROBES": INFERENCE,
        "INFERENCE_PROBE_INTERVAL_SECONDS": "1",
        "INFERENCE_BUDGET_TOKENS_PER_DAY": "100000000",
        "REDIS_URL": redis.url,
        "REDIS_POLL_INTERVAL_SECONDS": "1",
        "ENVIRONMENT": ENVIRONMENT,
    }
    for slug in PROVIDERS:
        prefix = slug.upper().replace("-", "_")
        env[f"{prefix}_API_KEY"] = KEY
        env[f"{prefix}_BASE_URL"] = upstream.base_url(slug)
        env[f"{prefix}_STATUS_PAGE_URL"] = f"{page_host.base_url(slug)}/{SUMMARY_PATH}"
    return env


def seed_redis(redis: RedisServer) -> None:
    """Write what the backend writes: breakers (one open), traffic, latencies, health keys."""
    backend = Backend(redis.client())
    for slug in PROVIDERS:
        state = "open" if slug == BREAKER_OPEN_PROVIDER else "closed"
        backend.breaker(slug, state, failures=5 if state == "open" else 0)
        for latency in (120, 240, 480, 960):
            backend.request(slug, "model-a", latency)
        backend.request(slug, "model-a", 2000, ok=False)
    backend.health_providers([{"provider": s, "status": "online"} for s in PROVIDERS])
    backend.health_models(
        [{"model_id": "model-a", "provider": "openai", "status": "healthy", "error_count": 0}]
    )


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT)


def start_redis_exporter(redis: RedisServer, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start Debian's prometheus-redis-exporter on the test Redis."""
    target = f"127.0.0.1:{free_port()}"
    proc = _start(
        [
            tool("prometheus-redis-exporter"),
            f"-redis.addr=redis://127.0.0.1:{redis.port}",
            f"-web.listen-address={target}",
        ],
        work / "redis_exporter.log",
    )

    def serving() -> bool:
        assert proc.poll() is None, (work / "redis_exporter.log").read_text()
        try:
            with urllib.request.urlopen(f"http://{target}/metrics", timeout=2) as response:
                return b"redis_up 1" in response.read()
        except OSError:
            return False

    wait_until(serving, 20, "redis_exporter serving redis_up 1")
    return proc, target


def _shorten_rules(work: Path) -> Path:
    rules_dir = work / "rules"
    rules_dir.mkdir()
    for path in sorted(RULES_DIR.glob("*.yml")):
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in loaded["groups"]:
            if "interval" in group:
                group["interval"] = "1s"
        (rules_dir / path.name).write_text(yaml.safe_dump(loaded, sort_keys=False))
    return rules_dir


def _shorten_config(rendered: Path, prometheus_port: int, ca_file: Path) -> dict[str, Any]:
    config = yaml.safe_load(rendered.read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (prom_targets,) = jobs["prometheus"]["static_configs"]
    assert prom_targets["targets"] == ["localhost:9090"], prom_targets
    prom_targets["targets"] = [f"127.0.0.1:{prometheus_port}"]
    for name in ("gatewayz_production", "gatewayz_staging"):
        assert jobs[name]["scheme"] == "https" and "tls_config" not in jobs[name], jobs[name]
        jobs[name]["tls_config"] = {"ca_file": str(ca_file)}
    return dict(config)


def start_prometheus(
    live: Prometheus, work: Path, env_targets: dict[str, str], ca_file: Path
) -> None:
    """Render through the entrypoint, shorten a copy of the result, run that via the entrypoint."""
    assert Path("/bin/prometheus").is_file(), "the entrypoint execs /bin/prometheus"
    tool("prometheus")
    port = live.port
    rules_dir = _shorten_rules(work)
    env = {
        **BASE_ENV,
        "PROMETHEUS_RENDER_DIR": str(work / "rendered"),
        "PROMETHEUS_RULES_DIR": str(rules_dir),
        "PROMETHEUS_STORAGE_PATH": str(work / "data"),
        "ENVIRONMENT": ENVIRONMENT,
        **env_targets,
    }
    entrypoint = str(PROMETHEUS_DIR / "entrypoint.sh")
    first = subprocess.run(
        ["/bin/sh", entrypoint],
        env={
            **env,
            "PROMETHEUS_CONFIG_TEMPLATE": str(PROMETHEUS_DIR / "prometheus.yml"),
            "PROMETHEUS_RENDER_ONLY": "1",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    shortened = _shorten_config(work / "rendered" / "prometheus.yml", port, ca_file)
    template = work / "prometheus.shortened.yml"  # no placeholders left: rendering is a copy
    template.write_text(yaml.safe_dump(shortened, sort_keys=False))
    with live.log.open("wb") as handle:
        live.proc = subprocess.Popen(
            ["/bin/sh", entrypoint, f"--web.listen-address=127.0.0.1:{port}"],
            env={**env, "PROMETHEUS_CONFIG_TEMPLATE": str(template)},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        assert live.proc is not None
        assert live.proc.poll() is None, "prometheus exited:\n" + live.log.read_text()
        try:
            urllib.request.urlopen(f"{live.url}/-/ready", timeout=1).close()
        except OSError:
            return False
        return True

    wait_until(ready, 30, "Prometheus ready")


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running_stack(work: Path) -> Iterator[Stack]:
    """Start every part; whatever started is stopped again (newest first), even on failure."""
    with ExitStack() as cleanup:
        loop = LoopThread()
        cleanup.callback(loop.close)
        upstream = loop.run(FakeUpstream().start())
        cleanup.callback(lambda: loop.run(upstream.stop()))
        for slug in PROVIDERS:
            upstream.set(slug, fake.ok(("model-a", "model-b"), delay=0.05))
            upstream.set_post(slug, Completions("openai", Script(ttft=0.2, tokens_per_second=50)))
        page_host = loop.run(FakeUpstream().start())
        cleanup.callback(lambda: loop.run(page_host.stop()))
        for slug, page in status_pages().items():
            page_host.set(slug, page)
        redis = RedisServer().start()
        cleanup.callback(redis.close)
        seed_redis(redis)
        redis_exporter, redis_exporter_target = start_redis_exporter(redis, work)
        cleanup.callback(_stop_process, redis_exporter)
        exporter = ExporterProcess(_exporter_env(upstream, page_host, redis))
        cleanup.callback(lambda: loop.run(exporter.stop()))
        loop.run(exporter.__aenter__())
        token = secrets.token_urlsafe(24)
        certificates = make_certificates(work)
        backend = BackendMetrics(certificates, token).start()
        cleanup.callback(backend.stop)
        prometheus = Prometheus(free_port(), work / "prometheus.log")
        cleanup.callback(lambda: prometheus.proc and _stop_process(prometheus.proc))
        start_prometheus(
            prometheus,
            work,
            {
                "PROVIDER_EXPORTER_TARGET": f"127.0.0.1:{exporter.port}",
                "REDIS_EXPORTER_TARGET": redis_exporter_target,
                "ALERTMANAGER_TARGET": f"127.0.0.1:{free_port()}",  # none: /api/v1/alerts suffices
                "GATEWAYZ_PRODUCTION_TARGET": backend.target,
                "GATEWAYZ_STAGING_TARGET": backend.target,
                "GATEWAYZ_METRICS_TOKEN": token,
            },
            certificates.ca_file,
        )
        yield Stack(
            loop,
            upstream,
            page_host,
            redis,
            exporter,
            backend,
            prometheus,
            redis_exporter_target,
            certificates.ca_file,
        )
