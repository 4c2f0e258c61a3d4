"""What the parts of the Monitor share: its state, and the steps one part takes that another owns.

The Monitor is one object put together from parts along its seams (`blindness`, `model_judging`,
`inputs`, `views`); each part is a class of its own module that reads and writes this state.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.judgement.model_tracks import ModelTrack
from exporter.judgement.scoring import Health, Rules
from exporter.judgement.snapshot import ProviderView, Snapshot
from exporter.judgement.tracks import ProviderTrack, Transition
from exporter.probing.budget import TokenBudget
from exporter.probing.connectivity import Network
from exporter.probing.official import OfficialView
from exporter.stored.redis_source import RedisView
from exporter.stored.replicas import ReplicaStats


class MonitorBase:
    """The Monitor's state (set in `Monitor.__init__`) and the steps its parts call."""

    _rules: Rules
    _model_rules: Rules
    _interval: float  # PROBE_INTERVAL_SECONDS: for a target without its own
    _inference_interval: float
    _vantage: str
    _tracks: dict[str, ProviderTrack]
    _side_transitions: list[Transition]
    _views: dict[str, ProviderView]
    _built: dict[str, float]
    _dirty: set[str]
    _latest: float  # the latest `now` any call passed in
    _lag: list[int]
    _lag_sum: float
    _in_flight: int
    _redis: RedisView | None  # the last reading, as exported
    _known: RedisView | None  # the last successful reading, for decisions
    _official: dict[str, OfficialView]  # their status pages: shown, never judged
    _snapshot: Snapshot
    budget: TokenBudget | None
    network: Network
    replica_stats: Callable[[], ReplicaStats] | None

    def _move(self, track: ProviderTrack, new: Health, now: float) -> Transition | None:
        raise NotImplementedError  # Monitor

    def _move_model(
        self, track: ProviderTrack, model: ModelTrack, new: Health, now: float
    ) -> list[Transition]:
        raise NotImplementedError  # ModelJudging

    def _blind(
        self, track: ProviderTrack, now: float, *, at_once: bool = False
    ) -> Transition | None:
        raise NotImplementedError  # Blindness

    def _view(self, track: ProviderTrack, now: float) -> ProviderView:
        raise NotImplementedError  # ProviderViews

    def _passive(self, slug: str) -> tuple[str | None, object]:
        raise NotImplementedError  # ProviderViews

    def _publish(self) -> Snapshot:
        raise NotImplementedError  # ProviderViews

    def refresh(self, now: float) -> Snapshot:
        raise NotImplementedError  # Monitor
