"""Wires settings, probes, monitor and web server together, and runs them until stopped."""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from collections.abc import Iterator, Sequence

import aiohttp
import structlog
from aiohttp import web
from pydantic import SecretStr

from exporter.catalog import normalise_slug
from exporter.clock import Clock
from exporter.collector import make_registry
from exporter.monitor import Monitor, Transition
from exporter.outcomes import Verdict, verdict
from exporter.probes import Prober, ProbeResult, make_trace_config
from exporter.scheduler import Scheduler
from exporter.scoring import Rules
from exporter.settings import Settings
from exporter.targets import GoogleAccount, Target
from exporter.web import make_app

log = structlog.get_logger("exporter")


def watched_models(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Return MODELS grouped by provider slug."""
    grouped: defaultdict[str, list[str]] = defaultdict(list)
    for provider, model in settings.watched_models:
        grouped[normalise_slug(provider)].append(model)
    return {slug: tuple(dict.fromkeys(models)) for slug, models in grouped.items()}


def secret_values(settings: Settings, targets: Sequence[Target]) -> Iterator[str]:
    """Yield every secret value the process holds, for the log scrubber."""
    if settings.metrics_auth_token is not None:
        yield settings.metrics_auth_token.get_secret_value()
    for target in targets:
        credential = target.credential
        if isinstance(credential, SecretStr):
            yield credential.get_secret_value()
        elif isinstance(credential, GoogleAccount):
            yield str(credential.info.get("private_key", ""))


def log_result(result: ProbeResult, transition: Transition | None) -> None:
    """Log a state change, and every probe that failed, as one event each."""
    if transition is not None:
        log.info(
            "provider_state_changed",
            provider=transition.slug,
            reason=transition.reason,
            **{"from": transition.old.value, "to": transition.new.value},
        )
    if verdict(result.outcome) is not Verdict.UP:
        log.info(
            "probe_failed",
            provider=result.slug,
            outcome=result.outcome.value,
            status=result.status,
            duration_seconds=round(result.duration, 4),
            detail=result.detail,
        )


async def serve(
    settings: Settings, targets: Sequence[Target], stop: asyncio.Event | None = None
) -> None:
    """Run the exporter until `stop` is set or SIGTERM/SIGINT arrives."""
    stop = stop or _stop_on_signals()
    clock = Clock()
    models = watched_models(settings)
    monitor = Monitor(targets, Rules.from_settings(settings), models, clock.now())
    registry = make_registry(lambda: monitor.snapshot)
    token = settings.metrics_auth_token
    app = make_app(lambda: monitor.snapshot, registry, token.get_secret_value() if token else None)
    runner = await _start_web(app, settings)
    log.info(
        "exporter_started",
        port=settings.port,
        providers=[t.slug for t in targets],
        unconfigured=[t.slug for t in targets if not t.configured],
        interval_seconds=settings.probe_interval_seconds,
    )
    try:
        async with make_session(settings) as session:
            prober = Prober(
                session,
                timeout=settings.probe_timeout_seconds,
                max_body_bytes=settings.probe_max_body_bytes,
                model_cap=settings.model_list_cap,
                watch={slug: frozenset(names) for slug, names in models.items()},
            )
            scheduler = Scheduler(
                targets,
                prober,
                monitor,
                interval=settings.probe_interval_seconds,
                concurrency=settings.probe_concurrency,
                now=clock.now,
                on_result=log_result,
            )
            await _run_until(scheduler.run(), stop)
    finally:
        await runner.cleanup()
        log.info("exporter_stopped")


def make_session(settings: Settings) -> aiohttp.ClientSession:
    """Return the one HTTP client session the process uses for every probe."""
    connector = aiohttp.TCPConnector(
        limit=settings.probe_concurrency, ttl_dns_cache=60, enable_cleanup_closed=True
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),  # each probe has its own total timeout
        trace_configs=[make_trace_config()],
        raise_for_status=False,
    )


async def _start_web(app: web.Application, settings: Settings) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    bound = 0
    for host in settings.listen_addresses:
        try:
            await web.TCPSite(runner, host, settings.port, reuse_address=True).start()
            bound += 1
        except OSError as exc:  # e.g. no IPv6 on this host: serve on the others
            log.warning("listen_failed", address=host, port=settings.port, error=exc.strerror)
    if not bound:
        await runner.cleanup()
        raise OSError(f"could not listen on port {settings.port} on any address")
    return runner


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _run_until(work: object, stop: asyncio.Event) -> None:
    assert asyncio.iscoroutine(work)
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopper):
        pending.cancel()
    await asyncio.gather(task, stopper, return_exceptions=True)
    if task in done and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
