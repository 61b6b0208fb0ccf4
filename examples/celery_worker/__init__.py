"""Cancelling stale OPay payments on Celery workers, one chunk of references per task.

- ``app``: the Celery app and the ``close_chunk`` task; one ``OPayClient`` and one event
  loop per worker process, made when the process starts and closed when it stops.
- ``producer``: splits a CSV file or any iterable into chunks, sends them, and writes one
  record per reference (``CloseOutcome.to_record()``, JSON) as each chunk finishes.
- ``records``: failed records for the items of a chunk that could not close them.
- ``settings``: the broker, the result backend, the redelivery settings and each
  process's share of the merchant's rate, from environment variables.
- ``tracing``: one OpenTelemetry trace from the producer through each chunk to its
  closes, when ``OTEL_TRACES_EXPORTER`` is set (``opentelemetry-instrumentation-celery``).
- ``local``: runs it all on one machine (the simulator over HTTP, worker processes, the
  filesystem broker or a ``redis-server`` of its own): the tests and ``measure`` use it.
- ``measure``: closes per second of one and of two worker processes.

Celery is a dependency of this example and its tests only, never of opay-async.
See ``docs/bulk.md`` ("Celery workers").
"""
