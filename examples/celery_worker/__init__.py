"""Cancelling stale OPay payments on Celery workers, one chunk of references per task.

- ``app``: the Celery app and the ``close_chunk`` task; one ``OPayClient`` and one event
  loop per worker process, made when the process starts and closed when it stops.
- ``producer``: splits a CSV file or any iterable into chunks, fans them out, gathers
  the records (``CloseOutcome.to_record()``, JSON).
- ``settings``: the broker, the result backend and each process's share of the
  merchant's rate, from environment variables.
- ``local``: runs it all on one machine without servers (the simulator over HTTP, the
  filesystem broker, worker processes): the tests and ``measure`` use it.
- ``measure``: closes per second of one and of two worker processes.

Celery is a dependency of this example and its test only, never of opay-async.
See ``docs/bulk.md`` ("Celery workers").
"""
