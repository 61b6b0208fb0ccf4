"""Spans of many processes, each exported to a JSON-lines file of its own, read as one trace.

`SpanFiles` registers `JsonLinesExporter` as the span exporter ``jsonl-files`` the way an
exporter package does (an ``opentelemetry_traces_exporter`` entry point, in a
distribution's metadata in a folder of the test's): a process started with that folder on
``PYTHONPATH`` and ``OTEL_TRACES_EXPORTER=jsonl-files`` finds it as it would find ``otlp``,
and writes each span it ends to ``spans-<pid>.jsonl`` in ``OPAY_TEST_SPANS``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

NAME = "jsonl-files"
Span = dict[str, Any]


class JsonLinesExporter(SpanExporter):
    """Each span as one line of JSON (``ReadableSpan.to_json``), in this process's file."""

    def __init__(self) -> None:
        folder = Path(os.environ["OPAY_TEST_SPANS"])
        self._file = (folder / f"spans-{os.getpid()}.jsonl").open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            self._file.write(span.to_json(indent=None) + "\n")
        self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._file.close()


class SpanFiles:
    """A folder of span files, and the environment that makes processes write there."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "spans"
        self.folder.mkdir()
        self.plugin = folder / "exporter-plugin"
        metadata = self.plugin / "opay_test_spans-0.dist-info"
        metadata.mkdir(parents=True)
        (metadata / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: opay-test-spans\nVersion: 0\n"
        )
        (metadata / "entry_points.txt").write_text(
            f"[opentelemetry_traces_exporter]\n{NAME} = {__name__}:JsonLinesExporter\n"
        )

    @property
    def environment(self) -> dict[str, str]:
        """What a traced process needs besides ``PYTHONPATH`` (which must hold `plugin`)."""
        return {
            "OTEL_TRACES_EXPORTER": NAME,
            "OPAY_TEST_SPANS": str(self.folder),
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # milliseconds: files written as the run goes
        }

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("spans-*.jsonl"))

    def text(self) -> str:
        return "".join(path.read_text(encoding="utf-8") for path in self.files())

    def spans(self) -> list[Span]:
        return [json.loads(line) for line in self.text().splitlines()]


def tree(spans: Sequence[Span], shown: Sequence[str]) -> list[str]:
    """The spans as an indented tree, each line its name, service and ``shown`` attributes."""
    children: dict[str | None, list[Span]] = {}
    for span in sorted(spans, key=lambda span: span["start_time"]):
        children.setdefault(span["parent_id"], []).append(span)
    lines: list[str] = []

    def add(span: Span, depth: int) -> None:
        attributes = span["attributes"]
        service = span["resource"]["attributes"].get("service.name")
        took = datetime.fromisoformat(span["end_time"]) - datetime.fromisoformat(span["start_time"])
        details = [f"({took.total_seconds() * 1000:.0f} ms)", f"[{service}]"]
        details += [f"{key}={attributes[key]}" for key in shown if key in attributes]
        lines.append("  " * depth + " ".join([span["name"], *details]))
        for child in children.get(span["context"]["span_id"], []):
            add(child, depth + 1)

    for root in children.get(None, []):
        add(root, 0)
    return lines
