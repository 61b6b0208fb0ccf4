"""The traces the SDK exports, printed as trees and drawn as a waterfall.

    python -m examples.observability.trace_tree [--png docs/trace_tree.png]

Runs, against the built-in simulator (no network), a close that OPay answers ``50003``
twice before closing it, and a ``close_many`` of 20 stale orders (one of them paid, one
not found), each under a span of the caller's, with OpenTelemetry's SDK and an in-memory
exporter. Prints each trace as an indented tree (name, duration, attributes, events), as
exported; with ``--png`` (needs matplotlib) draws both as a waterfall, the picture in
docs/observability.md.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opay_async import OrderStatus, RetryPolicy
from opay_async.testing import FakeOPay

#: The attributes a tree line shows, in this order.
SHOWN = (
    "opay.reference",
    "opay.country",
    "opay.attempts",
    "opay.code",
    "opay.order_status",
    "error.type",
    "opay.close_many.closed",
    "opay.close_many.not_closed",
    "opay.close_many.not_sent",
)


async def traced(provider: TracerProvider) -> None:
    """The two scenes, each under a span of the caller's."""
    fake = FakeOPay(auto_create=True)
    fake.set_latency(0.01, 0.03)
    fake.add_payment(reference="STALE-07", country="EG", status=OrderStatus.SUCCESS)
    app = provider.get_tracer("shop")
    retry = RetryPolicy(wait_initial=0.05, wait_max=0.2)
    async with fake.client(tracer_provider=provider, retry=retry) as opay:
        with app.start_as_current_span("POST /orders/SHOP-1/cancel"):
            fake.fail_next(2)  # 50003 twice, then the close goes through
            await opay.close_payment(reference="SHOP-1", country="EG")
        fake.auto_create = False
        for number in range(20):
            if number not in {7, 13}:
                fake.add_payment(reference=f"STALE-{number:02d}", country="EG")
        with app.start_as_current_span("nightly stale orders"):
            references = [f"STALE-{number:02d}" for number in range(20)]
            await opay.close_many(references, country="EG", concurrency=5)


def export() -> list[ReadableSpan]:
    """Run the scenes; the spans as exported."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    asyncio.run(traced(provider))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def _children(spans: Sequence[ReadableSpan]) -> dict[int | None, list[ReadableSpan]]:
    tree: dict[int | None, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda span: span.start_time or 0):
        tree.setdefault(span.parent.span_id if span.parent else None, []).append(span)
    return tree


def _line(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    shown = ", ".join(f"{name}={attributes[name]}" for name in SHOWN if name in attributes)
    milliseconds = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    status = f" [{span.status.status_code.name}]" if span.status.description else ""
    return f"{span.name} ({milliseconds:.0f} ms){status} {shown}".rstrip()


def tree_lines(spans: Sequence[ReadableSpan]) -> list[str]:
    """Every trace as indented lines, events under their span."""
    tree = _children(spans)
    lines: list[str] = []

    def walk(span: ReadableSpan, depth: int) -> None:
        lines.append("  " * depth + _line(span))
        for event in span.events:
            fields = ", ".join(f"{key}={value}" for key, value in (event.attributes or {}).items())
            lines.append("  " * (depth + 1) + f"event {event.name}: {fields}")
        for child in tree.get(span.context.span_id if span.context else None, []):
            walk(child, depth + 1)

    for root in tree.get(None, []):
        walk(root, 0)
    return lines


def draw(spans: Sequence[ReadableSpan], path: Path) -> None:
    """A waterfall of both traces: a bar per span, red where it ended in error."""
    import matplotlib as mpl  # noqa: PLC0415 (only for --png)

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    tree = _children(spans)
    rows: list[tuple[ReadableSpan, int]] = []

    def walk(span: ReadableSpan, depth: int) -> None:
        rows.append((span, depth))
        for child in tree.get(span.context.span_id if span.context else None, []):
            walk(child, depth + 1)

    roots = tree.get(None, [])
    for root in roots:
        walk(root, 0)
    figure, axes = plt.subplots(
        2, 1, figsize=(11, 0.26 * len(rows) + 1.6), height_ratios=[4, len(rows) - 4]
    )
    titles = (
        "A close answered 50003 twice, then closed: each tick is an opay.retry event",
        "close_many of 20 stale orders, concurrency 5: red did not close (paid, not found)",
    )
    for axis, root, title in zip(axes, roots, titles, strict=True):
        mine = [
            (span, depth) for span, depth in rows if span.context.trace_id == root.context.trace_id
        ]
        origin = root.start_time or 0
        for row, (span, depth) in enumerate(mine):
            start = ((span.start_time or 0) - origin) / 1e6
            width = max(((span.end_time or 0) - (span.start_time or 0)) / 1e6, 0.3)
            failed = span.status.status_code.name == "ERROR"
            axis.barh(row, width, left=start, color="#d9534f" if failed else "#4a7ebb")
            label = _line(span).split(" (", 1)[0]
            reference = (span.attributes or {}).get("opay.reference")
            if reference and span.name == "opay.close_payment":
                label += f"  {reference}"
            axis.text(-2, row, label + "   " * (3 - depth), ha="right", va="center", fontsize=8)
            for event in span.events:
                axis.plot(((event.timestamp or 0) - origin) / 1e6, row, "k|", markersize=10)
        axis.set_title(title, fontsize=9, loc="left")
        axis.set_ylim(len(mine) - 0.5, -0.5)
        axis.set_yticks([])
        axis.set_xlabel("ms since the caller's span started", fontsize=8)
        axis.tick_params(labelsize=8)
    figure.subplots_adjust(left=0.3, right=0.98, top=0.95, bottom=0.05, hspace=0.35)
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--png", type=Path, help="draw the waterfall into this file")
    args = parser.parse_args()
    spans = export()
    print("\n".join(tree_lines(spans)))
    if args.png:
        draw(spans, args.png)


if __name__ == "__main__":
    main()
