"""Part of the Monitor: each provider's view, built when read, and the snapshot of them all."""

from __future__ import annotations

from collections.abc import Generator

from exporter.judgement.monitor_base import MonitorBase
from exporter.judgement.scoring import (
    Evidence,
    State,
    combined_error_rate,
    score,
)
from exporter.judgement.snapshot import (
    AVAILABILITY_WINDOWS,
    ExporterStats,
    Histogram,
    ProviderView,
    Snapshot,
)
from exporter.judgement.tracks import (
    ProviderTrack,
    hour_copy,
    starts_afresh,
)
from exporter.stored.redis_source import Traffic

GATEWAY_WINDOW = 3600.0  # the backend's request counters cover the last hour
MIN_FAILED_CHECKS = 2  # one blip is never "partly failing" (as one never reads as `down`)
# Breaker state -> factor applied to the health score (an open breaker means the gateway is
# refusing traffic to the provider right now).
BREAKER_FACTORS = {"closed": 1.0, "half_open": 0.75, "open": 0.5}
VIEW_MAX_AGE = 1.0  # seconds a view may serve before windows have slid enough to rebuild it
PUBLISH_STEP = 16  # views rebuilt between two yields of publish_in_steps (~1-2 ms of CPU)


class ProviderViews(MonitorBase):
    """Each provider's view as read: windows, score and passive signals, built on demand."""

    def publish(self, now: float) -> Snapshot:
        """Rebuild the views that changed or aged, publish and return a new snapshot.

        Views are built when read, not after every probe: a probe only counts. A view is rebuilt
        when its provider was probed since, or when it is older than `VIEW_MAX_AGE` (windows slide).
        """
        for _ in self.publish_in_steps(now):
            pass
        return self._snapshot

    def publish_in_steps(self, now: float, step: int = PUBLISH_STEP) -> Generator[None, None, None]:
        """Publish as `publish` does, yielding after every `step` views rebuilt.

        Lets the event loop run probes between steps while hundreds of views are rebuilt for a
        scrape. A provider probed during the steps stays marked until its view is rebuilt after
        that probe (in this pass if it has not come yet, else in the next).
        """
        self._latest = max(self._latest, now)
        rebuilt = 0
        for slug, track in self._tracks.items():
            if slug in self._dirty or now - self._built[slug] >= VIEW_MAX_AGE:
                self._dirty.discard(slug)
                self._views[slug] = self._view(track, now)
                self._built[slug] = now
                rebuilt += 1
                if rebuilt % step == 0:
                    yield
        self._snapshot = self._publish()

    def _evidence(self, track: ProviderTrack, now: float) -> Evidence:
        """What `degraded` is judged on: the recent past only, since the provider last recovered
        (the gateway's hourly counters only when that recovery is over an hour old)."""
        since = now if starts_afresh(track.health) else track.judged_since
        probes = track.windows.error_ratio_since(since, now, MIN_FAILED_CHECKS)
        _, traffic = self._passive(track.target.slug)
        recovered_long_ago = now - since >= GATEWAY_WINDOW
        gateway = traffic.failure_ratio if traffic is not None and recovered_long_ago else None
        return Evidence(
            error_ratio=combined_error_rate(probes, gateway),
            latency_recent=track.windows.recent_latency(now),
            breaker_open=self._passive(track.target.slug)[0] == "open",
        )

    def _passive(self, slug: str) -> tuple[str | None, Traffic | None]:
        """Return the provider's breaker state and gateway traffic, as Redis last told us."""
        if self._known is None:
            return None, None
        return self._known.breakers.get(slug), self._known.traffic.get(slug)

    def _error_rate(self, track: ProviderTrack, now: float) -> float | None:
        _, traffic = self._passive(track.target.slug)
        gateway = traffic.failure_ratio if traffic is not None else None
        return combined_error_rate(track.windows.counts("5m", now).error_ratio, gateway)

    def _view(self, track: ProviderTrack, now: float) -> ProviderView:
        windows = track.windows
        availability = {w: windows.counts(w, now).availability for w in AVAILABILITY_WINDOWS}
        error_rate = self._error_rate(track, now)
        p50, p95 = windows.latency_quantiles(now, (0.5, 0.95))
        breaker, traffic = self._passive(track.target.slug)
        health = track.shown
        last, failure = track.last, track.last_failure
        configured = health.state is not State.UNCONFIGURED
        return ProviderView(
            slug=track.target.slug,
            configured=track.target.configured,
            state=health.state,
            since=health.since,
            reason=health.reason,
            state_changes=track.state_changes,
            score=score(
                availability["1h"], error_rate, p95, self._rules, BREAKER_FACTORS.get(breaker or "")
            )
            if configured
            else None,
            availability=availability,
            error_rate=error_rate,
            latency_p50=p50,
            latency_p95=p95,
            probes=dict(track.probes),
            checks_up=track.up,
            checks_down=track.down,
            response_time=Histogram(
                tuple(track.rt_buckets),
                track.rt_sum,
                sum(track.rt_buckets),
                tuple(track.rt_exemplars),
            ),
            last_outcome=last.outcome if last else None,
            last_probe_at=last.started + last.duration if last else None,
            last_status=last.status if last else None,
            last_failure=failure.outcome if failure else None,
            last_failure_at=failure.started if failure else None,
            phases=dict(last.phases) if last else {},
            models_listed=track.models_listed,
            models_sample=track.models_sample,
            model_uptime={m: ring.uptime(now) for m, ring in track.uptime.items()},
            backoff=track.backoff,
            interval=track.target.interval or self._interval,
            hour=hour_copy(windows, now),
            breaker=breaker,
            traffic=traffic,
            inference={m: model.view(now) for m, model in track.inference.items()},
        )

    def _publish(self) -> Snapshot:
        lag = Histogram(tuple(self._lag), self._lag_sum, sum(self._lag))
        ready = all(
            track.last is not None or not track.target.configured for track in self._tracks.values()
        )
        budget, rules = self.budget, self._model_rules
        stats = ExporterStats(
            probe_lag=lag,
            in_flight=self._in_flight,
            budget_remaining=budget.remaining(self._latest) if budget else None,
            ttft_slow=rules.latency_slow if budget else None,
            min_tokens_per_second=(rules.min_throughput or 0.0) if budget else None,
        )
        return Snapshot(
            providers=dict(self._views),
            stats=stats,
            ready=ready,
            redis=self._redis,
            official=dict(self._official),
            offline=self.network.offline(),
            network_up=self.network.up if self.network.measured else None,
            vantage=self._vantage,
            replicas=self.replica_stats() if self.replica_stats is not None else None,
        )
