"""One OpenTelemetry span per probe, sent over OTLP/HTTP; off (and free) unless configured."""

from __future__ import annotations

import threading

from exporter import __version__
from exporter.outcomes import Outcome
from exporter.probing.probes import ProbeResult

SERVICE_NAME = "provider-exporter"


class ProbeTracer:
    """Turn finished probes into spans; return each span's trace id for exemplars."""

    def __init__(self, endpoint: str, environment: str) -> None:
        # Imported here so that an exporter without tracing never loads the SDK.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create(
            {
                "service.name": SERVICE_NAME,
                "service.version": __version__,
                "deployment.environment": environment,
            }
        )
        self._provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)
        # The batch processor exports from its own thread with a bounded queue: a Tempo that is
        # down or slow costs the probes nothing (spans are dropped when the queue is full).
        self._provider.add_span_processor(
            BatchSpanProcessor(exporter, max_queue_size=2048, schedule_delay_millis=1000)
        )
        self._tracer = self._provider.get_tracer("exporter.probing.probes", __version__)

    def trace(self, result: ProbeResult) -> str:
        """Record `result` as a span with its real start and end; return the trace id (hex)."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        start = int(result.started * 1e9)
        attributes: dict[str, str | int | float] = {
            "provider": result.slug,
            "probe.outcome": result.outcome.value,
        }
        if result.status is not None:
            attributes["http.response.status_code"] = result.status
        for phase, seconds in result.phases.items():
            attributes[f"probe.phase.{phase}_seconds"] = seconds
        span = self._tracer.start_span(
            f"probe {result.slug}", kind=SpanKind.CLIENT, start_time=start, attributes=attributes
        )
        if result.outcome is not Outcome.OK:
            span.set_status(Status(StatusCode.ERROR, result.outcome.value))
        span.end(end_time=start + int(result.duration * 1e9))
        return format(span.get_span_context().trace_id, "032x")

    def shutdown(self, timeout: float) -> None:
        """Flush what is queued and stop, waiting at most `timeout` seconds (Tempo may hang)."""
        worker = threading.Thread(target=self._provider.shutdown, daemon=True)
        worker.start()
        worker.join(timeout)
