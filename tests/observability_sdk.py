"""One OpenTelemetry SDK for the whole test session, with in-memory exporters.

OpenTelemetry lets a process set its global tracer and meter providers once. Both the unit and
the integration observability tests use :func:`install_sdk`, which sets them the first time and
returns the same exporters afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class OtelSdk:
    """The session's in-memory span exporter and metric reader."""

    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans, oldest first, optionally only those called ``name``."""
        spans = list(self.spans.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The single finished span called ``name``."""
        found = self.finished(name)
        assert len(found) == 1, f"expected one {name} span, got {[s.name for s in found]}"
        return found[0]

    def points(self, metric: str, **labels: Any) -> list[Any]:
        """Data points of ``metric`` whose attributes include ``labels``."""
        data = self.metrics.get_metrics_data()
        found: list[Any] = []
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for m in scope_metrics.metrics:
                    if m.name != metric:
                        continue
                    for point in m.data.data_points:
                        attrs = dict(point.attributes or {})
                        if all(attrs.get(k) == v for k, v in labels.items()):
                            found.append(point)
        return found

    def total(self, metric: str, **labels: Any) -> float:
        """Sum of the counter ``metric`` over the points matching ``labels``."""
        return sum(p.value for p in self.points(metric, **labels))


def children(spans: Iterable[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """The spans whose parent is ``parent``."""
    span_id = parent.context.span_id
    return [s for s in spans if s.parent is not None and s.parent.span_id == span_id]


_SDK: OtelSdk | None = None


def install_sdk() -> OtelSdk:
    """Set the global SDK providers once per process and return the in-memory exporters."""
    global _SDK
    if _SDK is None:
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tracer_provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        if trace.get_tracer_provider() is not tracer_provider:
            raise RuntimeError("another tracer provider was set before the observability tests")
        _SDK = OtelSdk(spans=exporter, metrics=reader)
    return _SDK
