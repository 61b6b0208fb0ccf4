"""OpenTelemetry for the example: one trace from the producer through each chunk to its closes.

Off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``: the names
and variables ``opentelemetry-instrument`` reads); then each process that runs chunks
or sends them sets up, for itself, a tracer provider exporting there and Celery's
instrumentation (``opentelemetry-instrumentation-celery``):

- each worker pool process, when it starts (Celery's ``worker_process_init``, as the
  instrumentation asks: the span processor's thread must be made after the fork) and
  flushes what it holds when it stops;
- the producer command, around its whole run: a span ``opay.celery.close_in_chunks``,
  the parent of each chunk's publish span (``apply_async/opay.close_chunk``); the
  instrumentation carries its context in the task's headers to the worker's span
  (``run/opay.close_chunk``), under which the SDK's ``opay.close_many`` and its
  ``opay.close_payment`` spans are made. (Calling ``close_in_chunks`` from Python
  instead: ``start("your-service")`` first, and iterate it inside a span of yours.)

Unset, nothing of OpenTelemetry is imported. Set without the packages installed (or with
an exporter name no package provides), the example runs untraced and logs why. The rest
is OpenTelemetry's own configuration: ``OTEL_SERVICE_NAME`` (the default names the
process's part, ``opay-celery-producer`` or ``opay-celery-worker``),
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``;
``OTEL_SDK_DISABLED=true`` turns it off.

These packages are the example's dependencies, never the SDK's: ``opay-async[otel]``
(the API), ``opentelemetry-sdk``, ``opentelemetry-instrumentation-celery`` and an
exporter (``opentelemetry-exporter-otlp``). See docs/bulk.md ("Tracing a run").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, Final

__all__ = [
    "EXPORTERS",
    "PRODUCER_SPAN",
    "exporter_names",
    "start",
    "start_in_worker_process",
    "stop",
    "traced_main",
]

#: The variable that turns tracing on, and names the exporters (comma-separated).
EXPORTERS: Final = "OTEL_TRACES_EXPORTER"
#: The producer's span: the root of a run's trace.
PRODUCER_SPAN: Final = "opay.celery.close_in_chunks"
_ENTRY_POINTS: Final = "opentelemetry_traces_exporter"  # where exporters register a name
#: What ``otlp`` means by ``OTEL_EXPORTER_OTLP_PROTOCOL``, as for ``opentelemetry-instrument``.
_OTLP: Final = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}

logger = logging.getLogger(__name__)

_provider: Any = None  # this process's TracerProvider, once made here


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The exporters ``environ`` asks for, by their entry points' names; none: tracing is off.

    Examples:
        >>> exporter_names({"OTEL_TRACES_EXPORTER": "otlp, console"})
        ['otlp', 'console']
        >>> exporter_names(
        ...     {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
        ... )
        ['otlp_proto_http']
        >>> exporter_names({"OTEL_TRACES_EXPORTER": "none"}), exporter_names({})
        ([], [])
        >>> exporter_names({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "True"})
        []
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", ""
    )
    names = (name.strip() for name in environ.get(EXPORTERS, "").split(","))
    return [
        _OTLP.get(protocol.strip(), name) if name == "otlp" else name
        for name in names
        if name and name != "none"
    ]


def start(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Trace this process, if ``environ`` asks for it: a tracer provider, Celery instrumented.

    Args:
        service: The service name when ``OTEL_SERVICE_NAME`` gives none.
        environ: Where the ``OTEL_*`` variables are read.

    Returns:
        Whether this process is traced.
    """
    global _provider  # noqa: PLW0603 (per-process state is the point)
    names = exporter_names(environ)
    if not names or _provider is not None:
        return _provider is not None
    try:  # the example's optional dependencies
        from opentelemetry import trace  # noqa: PLC0415
        from opentelemetry.instrumentation.celery import CeleryInstrumentor  # noqa: PLC0415
        from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    except ImportError as error:
        logger.warning(
            "%s=%s but %s is not installed: not traced (pip install opentelemetry-sdk "
            "opentelemetry-instrumentation-celery)",
            EXPORTERS,
            ",".join(names),
            error.name,
        )
        return False
    provider: Any = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):  # none yet: make this process's
        exporters = []
        for name in names:
            found = entry_points(group=_ENTRY_POINTS, name=name)
            if not found:
                logger.warning("no installed package provides span exporter %r: not traced", name)
                return False
            exporters.append(next(iter(found)).load()())
        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": service}))
        provider = TracerProvider(resource=resource)  # its sampler from OTEL_TRACES_SAMPLER
        for exporter in exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    # (Else the process has one already, set by the application or opentelemetry-instrument:
    # spans go there, and stop() flushes it.)
    instrumentor = CeleryInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    _provider = provider
    return True


def stop(**_: Any) -> None:
    """Export the spans this process still holds, and stop its tracing.

    A Celery signal handler: a pool process ends with ``os._exit``, which runs no
    ``atexit`` hook, so what its span processor holds is sent here or never.
    """
    global _provider
    provider, _provider = _provider, None
    if provider is not None and hasattr(provider, "shutdown"):  # an SDK's provider
        provider.shutdown()


def start_in_worker_process(**_: Any) -> None:
    """``worker_process_init``: trace the new pool process, if asked."""
    start("opay-celery-worker")


def traced_main(main: Callable[[], int]) -> int:
    """Run the producer command's ``main`` in the root span of the run, if asked; its code."""
    if not start("opay-celery-producer"):
        return main()
    from opentelemetry import trace  # noqa: PLC0415 (installed: start succeeded)

    try:
        with trace.get_tracer(__name__).start_as_current_span(PRODUCER_SPAN) as span:
            code = main()
            span.set_attribute("process.exit.code", code)
        return code
    finally:
        stop()
