"""Wires settings, probes, monitor and web server together, and runs them until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from urllib.parse import unquote, urlsplit

import aiohttp
import structlog
from aiohttp import web
from pydantic import SecretStr
from redis.asyncio import Redis

from exporter.catalog import BUILTIN, normalise_slug
from exporter.clock import Clock
from exporter.judgement.monitor import Monitor, Transition
from exporter.judgement.scoring import Rules
from exporter.logs import configure_logging
from exporter.loki import LokiCollector, LokiShipper
from exporter.outcomes import Verdict, verdict
from exporter.probing.budget import TokenBudget
from exporter.probing.connectivity import ConnectivityCheck, Network, parse_targets
from exporter.probing.inference import InferenceProber, InferenceResult
from exporter.probing.official_poller import StatusPagePoller, page_session
from exporter.probing.probes import Prober, ProbeResult, make_trace_config
from exporter.probing.tracing import SERVICE_NAME, ProbeTracer
from exporter.running.inference_scheduler import InferenceScheduler
from exporter.running.passive import HistoryKeeper, RedisPoller, make_redis
from exporter.running.scheduler import Scheduler
from exporter.running.shared_results import SharedResults, stream_length
from exporter.running.supervisor import Loop, run_until
from exporter.serving.collector import make_process_registry, make_registry
from exporter.serving.exposition import TextRenderer
from exporter.serving.listening import listen_error, reason
from exporter.serving.web import make_app
from exporter.settings import Settings
from exporter.stored.history import HistoryStore
from exporter.stored.redis_source import RedisSource
from exporter.stored.replicas import Membership, ReplicaStats, scope
from exporter.targets import GoogleAccount, Target

log = structlog.get_logger("exporter")

CONNECT_TIMEOUT = 2.0  # seconds a connectivity check's TCP connect may take at most


def by_provider(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Return (provider, model) pairs (MODELS, INFERENCE_PROBES) grouped by provider slug."""
    grouped: defaultdict[str, list[str]] = defaultdict(list)
    for provider, model in pairs:
        grouped[normalise_slug(provider)].append(model)
    return {slug: tuple(dict.fromkeys(models)) for slug, models in grouped.items()}


def secret_values(settings: Settings, targets: Sequence[Target]) -> Iterator[str]:
    """Yield every secret value the process holds, for the log scrubber."""
    if settings.metrics_auth_token is not None:
        yield settings.metrics_auth_token.get_secret_value()
    for url in (settings.redis_url, settings.loki_url):
        password = urlsplit(url.get_secret_value()).password if url is not None else None
        if password:
            yield password
            yield unquote(password)  # clients use the decoded form
    for target in targets:
        credential = target.credential
        if isinstance(credential, SecretStr):
            yield credential.get_secret_value()
        elif isinstance(credential, GoogleAccount):
            yield str(credential.info.get("private_key", ""))


def log_transition(transition: Transition) -> None:
    """Log one state change (of a provider, or of one of its inference-probed models)."""
    which = {"model": transition.model} if transition.model else {}
    log.info(
        "model_state_changed" if transition.model else "provider_state_changed",
        provider=transition.slug,
        **which,
        reason=transition.reason,
        **{"from": transition.old.value, "to": transition.new.value},
    )


def inference_logger() -> Callable[[InferenceResult | None, str, str, list[Transition]], None]:
    """Return what logs inference probes: state changes, failed probes, and the first probe
    the token budget stopped each UTC day."""
    stopped_on: set[int] = set()

    def log_inference(
        result: InferenceResult | None, slug: str, model: str, changes: list[Transition]
    ) -> None:
        for change in changes:
            log_transition(change)
        if result is None:
            today = int(time.time() // 86_400)
            if today not in stopped_on:
                stopped_on.add(today)
                log.warning("inference_budget_exhausted", provider=slug, model=model)
        elif verdict(result.outcome) is not Verdict.UP:
            log.info(
                "inference_probe_failed",
                provider=slug,
                model=model,
                outcome=result.outcome.value,
                status=result.status,
                duration_seconds=round(result.duration, 4),
                detail=result.detail,
            )

    return log_inference


def log_result(
    result: ProbeResult, transition: Transition | None, others: Sequence[Transition] = ()
) -> None:
    """Log a state change (and those it caused elsewhere), and every failed probe, one event
    each."""
    for change in (transition, *others):
        if change is not None:
            log_transition(change)
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
    shipper = _make_shipper(settings)
    configure_logging(
        settings.log_level,
        settings.log_format,
        secret_values(settings, targets),
        extra=[shipper] if shipper else [],
    )
    clock = Clock()
    monitor = make_monitor(settings, targets, clock)
    collectors = [LokiCollector(shipper)] if shipper else []
    runner = await _start_web(_make_app(settings, monitor, clock, collectors), settings)
    _log_start(settings, targets)
    redis = make_redis(settings)
    keeper = None
    tracer = _make_tracer(settings)
    try:
        # Loki and the status pages get their own connection pools (and the pages their own DNS
        # threads): a push or a slow status page never waits for a probe's slot, nor holds one
        async with (
            make_session(settings) as session,
            aiohttp.ClientSession() as loki_session,
            page_session() as pages_session,
        ):
            work, probing = _probing_loops(settings, targets, monitor, clock, session, tracer)
            if shipper is not None:
                work["loki"] = lambda: shipper.run(loki_session)
            pages = _make_status_pages(settings, pages_session, monitor, targets, clock)
            if pages is not None:
                work["status_pages"] = pages.run
            if redis is not None:
                keeper, loops = await _start_redis(
                    redis, settings, monitor, targets, clock, probing
                )
                work.update(loops)
            await run_until(work, stop)
            if shipper is not None:
                await shipper.flush(loki_session)
    finally:
        await _shut_down(keeper, redis, tracer, runner)


def make_monitor(settings: Settings, targets: Sequence[Target], clock: Clock) -> Monitor:
    """Return the monitor of these targets, with the token budget when pairs are probed."""
    inference = by_provider(settings.inference_pairs)
    budget = (
        TokenBudget(
            settings.inference_budget_tokens_per_day,
            settings.inference_max_output_tokens,
            clock.now(),
        )
        if inference
        else None
    )
    monitor = Monitor(
        targets,
        Rules.from_settings(settings),
        by_provider(settings.watched_models),
        clock.now(),
        interval=settings.probe_interval_seconds,
        network=make_network(settings, targets),
        inference=inference,
        model_rules=Rules.for_models(settings),
        inference_interval=settings.inference_probe_interval_seconds,
        budget=budget,
        vantage=settings.vantage,
    )
    configured = sum(target.configured for target in targets)
    monitor.replica_stats = lambda: ReplicaStats(1, configured, 0)  # alone, until Redis says
    return monitor


def _make_app(
    settings: Settings, monitor: Monitor, clock: Clock, collectors: list[LokiCollector]
) -> web.Application:
    token = settings.metrics_auth_token
    # Handlers publish a fresh snapshot on the event loop (/metrics in steps); renderers read it.
    return make_app(
        lambda: monitor.publish(clock.now()),
        make_registry(lambda: monitor.published, *collectors),
        token.get_secret_value() if token else None,
        text=TextRenderer(lambda: monitor.published, make_process_registry(*collectors)),
        publish_in_steps=lambda: monitor.publish_in_steps(clock.now()),
    )


def _log_start(settings: Settings, targets: Sequence[Target]) -> None:
    inference = by_provider(settings.inference_pairs)
    log.info(
        "exporter_started",
        port=settings.port,
        providers=[t.slug for t in targets],
        unconfigured=[t.slug for t in targets if not t.configured],
        interval_seconds=settings.probe_interval_seconds,
        inference=[f"{slug}:{model}" for slug, ms in inference.items() for model in ms],
        redis=settings.redis_url is not None,
        vantage=settings.vantage,
    )
    if not any(target.configured for target in targets):
        log.warning(
            "no_providers_configured",
            hint="set a provider's API key variable (for example OPENAI_API_KEY) or "
            "PROVIDERS_FILE; serving self-metrics"
            + (" and the backend's Redis signals" if settings.redis_url else ""),
        )


Probing = list[Scheduler | InferenceScheduler]  # what probes providers: the replicas gate it


def _probing_loops(
    settings: Settings,
    targets: Sequence[Target],
    monitor: Monitor,
    clock: Clock,
    session: aiohttp.ClientSession,
    tracer: ProbeTracer | None,
) -> tuple[dict[str, Loop], Probing]:
    """Return the loops that probe (list, inference, connectivity) and the schedulers."""
    prober = _make_prober(settings, session, by_provider(settings.watched_models))
    scheduler = _make_scheduler(settings, prober, monitor, targets, clock)
    scheduler.trace = tracer.trace if tracer else None
    work: dict[str, Loop] = {}
    probing: Probing = [scheduler]
    if monitor.network.measured:
        scheduler.connectivity = _make_connectivity(settings, monitor, clock)
        work["connectivity"] = scheduler.connectivity.run
    if any(target.configured for target in targets):
        work["probes"] = scheduler.run
    inference = by_provider(settings.inference_pairs)
    pairs = [(t, m) for t in targets if t.configured for m in inference.get(t.slug, ())]
    if monitor.budget is not None and pairs:
        inferring = InferenceScheduler(
            pairs,
            InferenceProber(prober, max_tokens=settings.inference_max_output_tokens),
            monitor,
            monitor.budget,
            interval=settings.inference_probe_interval_seconds,
            now=clock.now,
            on_result=inference_logger(),
        )
        inferring.connectivity = scheduler.connectivity
        work["inference"] = inferring.run
        probing.append(inferring)
    return work, probing


async def _start_redis(
    redis: Redis,
    settings: Settings,
    monitor: Monitor,
    targets: Sequence[Target],
    clock: Clock,
    probing: Probing,
) -> tuple[HistoryKeeper, dict[str, Loop]]:
    """Start what runs through Redis: the backend poller, the history, the replicas' sharing."""
    configured = [target.slug for target in targets if target.configured]
    shared, loops = await _start_sharing(redis, settings, monitor, configured, clock)
    keeper, work = await _start_passive(redis, settings, monitor, targets, clock, shared.results)
    for scheduler in probing:
        scheduler.owns = shared.membership.owns
        scheduler.share = shared.share
    return keeper, {**work, **loops}


def make_network(settings: Settings, targets: Sequence[Target]) -> Network:
    """Return the exporter's view of its own network: measured with targets, else inferred."""
    watched = [target for target in targets if target.configured]
    # "every provider failed within one interval" (the longest of them, so each had a chance):
    # a timeout ends that long after its start
    longest = max(
        (t.interval or settings.probe_interval_seconds for t in watched),
        default=settings.probe_interval_seconds,
    )
    window = longest + settings.probe_timeout_seconds
    return Network(bool(settings.connectivity_check_targets), [t.slug for t in watched], window)


def _make_connectivity(settings: Settings, monitor: Monitor, clock: Clock) -> ConnectivityCheck:
    def on_result(up: bool) -> None:
        was_offline = monitor.network.offline()
        for transition in monitor.set_network(up, clock.now()):
            log_transition(transition)
        if monitor.network.offline() and not was_offline:
            log.warning("network_lost", targets=list(settings.connectivity_check_targets))
        elif was_offline and not monitor.network.offline():
            log.info("network_restored")

    return ConnectivityCheck(
        parse_targets(settings.connectivity_check_targets),
        interval=settings.probe_interval_seconds,
        timeout=min(settings.probe_timeout_seconds, CONNECT_TIMEOUT),
        on_result=on_result,
    )


def _make_status_pages(
    settings: Settings,
    session: aiohttp.ClientSession,
    monitor: Monitor,
    targets: Sequence[Target],
    clock: Clock,
) -> StatusPagePoller | None:
    pages = {t.slug: t.status_page for t in targets if t.status_page is not None}
    if not pages:
        return None
    return StatusPagePoller(
        session,
        pages,
        interval=settings.status_page_poll_seconds,
        timeout=settings.probe_timeout_seconds,
        max_body_bytes=settings.probe_max_body_bytes,
        max_components=settings.status_page_max_components,
        now=clock.now,
        publish=monitor.set_official,
    )


def _make_shipper(settings: Settings) -> LokiShipper | None:
    if settings.loki_url is None:
        return None
    return LokiShipper(settings.loki_url.get_secret_value(), SERVICE_NAME, settings.environment)


def _make_tracer(settings: Settings) -> ProbeTracer | None:
    if settings.otel_exporter_otlp_endpoint is None:
        return None
    return ProbeTracer(settings.otel_exporter_otlp_endpoint, settings.environment)


def _make_prober(
    settings: Settings, session: aiohttp.ClientSession, models: dict[str, tuple[str, ...]]
) -> Prober:
    return Prober(
        session,
        timeout=settings.probe_timeout_seconds,
        max_body_bytes=settings.probe_max_body_bytes,
        model_cap=settings.model_list_cap,
        watch={slug: frozenset(names) for slug, names in models.items()},
    )


def _make_scheduler(
    settings: Settings, prober: Prober, monitor: Monitor, targets: Sequence[Target], clock: Clock
) -> Scheduler:
    return Scheduler(
        targets,
        prober,
        monitor,
        interval=settings.probe_interval_seconds,
        concurrency=settings.probe_concurrency,
        now=clock.now,
        on_result=lambda result, change: log_result(result, change, monitor.take_transitions()),
    )


def passive_slugs(settings: Settings, targets: Sequence[Target]) -> list[str]:
    """Return the providers whose backend keys are read: PROVIDERS when set, else every provider
    in the catalog, key or not (the backend holds the keys; its Redis needs none of ours)."""
    slugs = [target.slug for target in targets]
    if settings.providers is None:
        slugs += [spec.slug for spec in BUILTIN]
    return list(dict.fromkeys(slugs))


async def _start_passive(
    redis: Redis,
    settings: Settings,
    monitor: Monitor,
    targets: Sequence[Target],
    clock: Clock,
    shared: SharedResults,
) -> tuple[HistoryKeeper, dict[str, Loop]]:
    """Restore history (briefly: Redis may be away) and return the passive loops to run."""
    slugs = [target.slug for target in targets]
    source = RedisSource(redis, passive_slugs(settings, targets), settings.redis_max_keys)
    poller = RedisPoller(
        source,
        monitor,
        interval=settings.redis_poll_interval_seconds,
        budget=settings.redis_poll_budget_seconds,
        now=clock.now,
        on_transition=log_transition,
    )
    store = HistoryStore(redis, scope(settings.exporter_redis_prefix, settings.vantage))
    keeper = HistoryKeeper(store, monitor, settings.history_flush_interval_seconds, clock.now)
    keeper.shared = shared  # before the restore: it says where reading the stream resumes
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(settings.redis_poll_budget_seconds):
            await keeper.restore(slugs)  # before the first probe, so nothing is counted twice
    return keeper, {"redis_poll": poller.run, "history": lambda: keeper.run(slugs)}


class Sharing:
    """The replicas' parts of one process: its share of the providers and the shared results."""

    def __init__(self, membership: Membership, results: SharedResults) -> None:
        self.membership = membership
        self.results = results

    def share(self, result: ProbeResult | InferenceResult) -> None:
        self.results.share(result, enabled=self.membership.shared)

    def stats(self) -> ReplicaStats:
        own = self.membership.stats
        return replace(own, shared_lag=self.results.lag, unreadable=self.results.unreadable)


async def _start_sharing(
    redis: Redis, settings: Settings, monitor: Monitor, configured: list[str], clock: Clock
) -> tuple[Sharing, dict[str, Loop]]:
    """Join this vantage's replicas (one heartbeat first: the schedulers start knowing their
    share) and return the loops that keep the share and the shared results going."""
    keys = scope(settings.exporter_redis_prefix, settings.vantage)
    membership = Membership(  # a replica that lost its network leaves: the others can see
        redis,
        f"{keys}replicas",
        configured,
        lease=settings.replica_lease_seconds,
        blind=monitor.network.offline,
    )
    results = SharedResults(
        redis,
        f"{keys}results",
        membership.me,
        monitor,
        length=stream_length(len(configured) + len(settings.inference_pairs)),
        now=clock.now,
        block=min(1.0, settings.redis_poll_budget_seconds / 2),  # the client's socket timeout
    )
    await membership.beat()
    with contextlib.suppress(Exception):  # Redis away or slow: the states come with probes
        async with asyncio.timeout(settings.redis_poll_budget_seconds):
            # the newest entry of every target is among the last two rounds of them all
            every = len(configured) + len(settings.inference_pairs)
            slowest = max(
                settings.probe_interval_seconds, settings.inference_probe_interval_seconds
            )
            await results.adopt_states(2 * every + 100, 3 * slowest)
    sharing = Sharing(membership, results)
    monitor.replica_stats = sharing.stats
    log.info("replica_joined", replica=membership.me, replicas=membership.stats.replicas)
    loops: dict[str, Loop] = {"replicas": membership.run}
    loops.update(shared_read=results.read, shared_write=results.write)
    return sharing, loops


async def _shut_down(
    keeper: HistoryKeeper | None,
    redis: Redis | None,
    tracer: ProbeTracer | None,
    runner: web.AppRunner,
) -> None:
    """Flush history once more (without holding up shutdown for long), then close the rest."""
    if keeper is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await keeper.save()
    if redis is not None:
        await redis.aclose()
    if tracer is not None:
        tracer.shutdown(timeout=2.0)
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


# A client connection that completes no request within this time is closed: an idle socket, or
# headers trickled in one byte a second, cannot hold the server's resources (aiohttp's default is
# about an hour). Also the keep-alive limit between scrapes; Prometheus simply reconnects.
CLIENT_IDLE_SECONDS = 10.0


async def _start_web(app: web.Application, settings: Settings) -> web.AppRunner:
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, keepalive_timeout=CLIENT_IDLE_SECONDS
    )
    await runner.setup()
    errors: dict[str, OSError | ValueError] = {}
    started = 0
    for host in dict.fromkeys(settings.listen_addresses):
        try:
            await web.TCPSite(runner, host, settings.port, reuse_address=True).start()
            started += 1
        except (OSError, ValueError) as exc:  # e.g. no IPv6 on this host: serve on the others
            errors[host] = exc  # (ValueError: a host name the resolver cannot even encode)
    if not started:
        await runner.cleanup()
        raise listen_error(settings.port, settings.listen_addresses, list(errors.values()))
    for host, failure in errors.items():
        log.warning("listen_failed", address=host, port=settings.port, error=reason(failure))
    return runner


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
