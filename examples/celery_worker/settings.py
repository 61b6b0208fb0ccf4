"""The example's settings, read from environment variables (plain Python, no Celery import).

Celery (``CELERY_*``):

- ``CELERY_BROKER_URL``: where tasks are queued. Default ``filesystem://localhost//``: kombu's
  filesystem transport, message files in ``$CELERY_DATA_DIR/queue``. It needs no server
  but only works on one machine; in production use ``redis://host:6379/0`` or
  ``amqp://user:password@host:5672/vhost`` (RabbitMQ: publisher confirms and a quorum
  queue, see ``celery_config``).
- ``CELERY_RESULT_BACKEND``: where chunk results are kept until the producer reads them.
  Default ``file://$CELERY_DATA_DIR/results``; in production ``redis://host:6379/1``,
  whatever the broker: a key-value store, as the producer reads many chunks' records in
  one request (``mget``) and the task counts its starts (``incr``), which Celery's
  database backends (``db+postgresql://``) cannot.

  ``filesystem://`` and ``file://`` are served by the subclasses of ``serverless``, which
  write each file whole (kombu's and Celery's own can be read half-written).
- ``CELERY_DATA_DIR``: the folder of the two defaults above (default ``opay-celery`` in
  the system's temporary folder, so that producers and workers started anywhere on the
  machine find the same one).
- ``CELERY_VISIBILITY_TIMEOUT``: seconds a Redis broker waits for a taken chunk to be
  acknowledged before it hands the chunk to another worker (default 300). It must be
  longer than the longest chunk takes: a chunk still running then is run twice.
  RabbitMQ does not read it: its own ``consumer_timeout`` (in ``rabbitmq.conf``, 30
  minutes by default) takes a chunk back from a consumer that has not acknowledged it.
- ``CELERY_MAX_DELIVERIES``: how many times a chunk may be started (default 3). A chunk
  whose worker process dies on each of them ends as failed records, never runs again.

Each worker process (``OPAY_*``, beside the client's own ``OPAY_MERCHANT_ID``,
``OPAY_SECRET_KEY``, ``OPAY_ENVIRONMENT`` and ``OPAY_BASE_URL``):

- ``OPAY_MERCHANT_RATE``: attempts per second OPay allows the whole merchant account
  (unset: no limit). Every worker process gets an equal share of it.
- ``OPAY_WORKER_PROCESSES``: how many worker processes share that rate, on every machine
  together (default: the pool size of the worker, right when it is the only one).
- ``OPAY_CONCURRENCY``: requests in flight per worker process (default 50).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "AMQP_SCHEMES",
    "DEFAULT_BROKER_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DATA_DIR",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_VISIBILITY_TIMEOUT",
    "RESTORE_INTERVAL",
    "SERVERLESS",
    "WorkerSettings",
    "celery_config",
    "local_folders",
    "make_local_folders",
    "max_deliveries",
    "per_process_rate",
    "visibility_timeout",
]

#: Needs no server, but works on one machine only. (kombu logs a warning for a URL
#: without a host, ``filesystem://``: the host names none, the files are local.)
DEFAULT_BROKER_URL: Final = "filesystem://localhost//"
#: Where the filesystem broker and the file result backend keep their files by default.
DEFAULT_DATA_DIR: Final = Path(tempfile.gettempdir()) / "opay-celery"
#: Requests in flight per worker process: enough for ~1,000 closes/s at 50 ms latency.
DEFAULT_CONCURRENCY: Final = 50
#: The module of the safe filesystem broker and file backend (``serverless``).
SERVERLESS: Final = __name__.rpartition(".")[0] + ".serverless"
#: How often a filesystem broker's consumer looks for new messages (kombu's default: 1 s).
FILESYSTEM_POLLING_INTERVAL: Final = 0.05
#: Seconds Redis keeps a taken, unacknowledged chunk from other workers (kombu: 3,600).
DEFAULT_VISIBILITY_TIMEOUT: Final = 300.0
#: How often, in seconds, a worker looks for chunks past their visibility timeout, at
#: most (a quarter of a short timeout, 1 s at least). With kombu's defaults (10 s, and a
#: real look every 10th time) it is about 100 s.
RESTORE_INTERVAL: Final = 5
#: The URL schemes of RabbitMQ (kombu's py-amqp transport).
AMQP_SCHEMES: Final = ("amqp:", "amqps:", "pyamqp:")
#: Starts of one chunk before its references end as failed records.
DEFAULT_MAX_DELIVERIES: Final = 3


def _value(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's value, stripped; an empty or blank one counts as unset."""
    value = environ.get(name, "").strip()
    return value or None


def local_folders(environ: Mapping[str, str]) -> dict[str, Path]:
    """The folders of the filesystem broker and the file result backend (absolute).

    Examples:
        >>> sorted(local_folders({"CELERY_DATA_DIR": "/srv/celery"}).items())
        [('control', PosixPath('/srv/celery/control')), ('queue', PosixPath('/srv/celery/queue')), \
('results', PosixPath('/srv/celery/results'))]
    """
    root = Path(_value(environ, "CELERY_DATA_DIR") or DEFAULT_DATA_DIR).absolute()
    return {name: root / name for name in ("queue", "control", "results")}


def make_local_folders(environ: Mapping[str, str]) -> None:
    """Create the folders of the filesystem broker and file backend, when they are used."""
    broker = _value(environ, "CELERY_BROKER_URL") or DEFAULT_BROKER_URL
    backend = _value(environ, "CELERY_RESULT_BACKEND")
    folders = local_folders(environ)
    wanted: list[Path] = []
    if broker.startswith("filesystem:"):
        wanted += [folders["queue"], folders["control"]]
    if backend is None:
        wanted.append(folders["results"])
    for folder in wanted:
        folder.mkdir(parents=True, exist_ok=True)


def celery_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """Celery settings for the example: the broker and result backend from ``environ``.

    Tasks and results travel as JSON (Celery's default serializer): a chunk is a list of
    references or rows, its result a list of ``CloseRecord`` dicts. Closing again is
    safe (a closed payment answers closed again), so a chunk is delivered at least once:

    - it is acknowledged when it is done (``task_acks_late``), and a pool process that
      dies running it (SIGKILL from the OOM killer, SIGTERM) puts it back in the queue
      (``task_reject_on_worker_lost``); ``app.close_chunk`` caps the starts;
    - a whole worker that dies leaves its chunks unacknowledged: Redis hands them to
      another worker after ``visibility_timeout`` (looked for every ``RESTORE_INTERVAL``),
      RabbitMQ at once (it sees the connection close);
    - on RabbitMQ, a publish returns once the broker has the chunk on disk
      (``confirm_publish``: without it, chunks published just before a broker crash are
      lost though the producer took them as sent), in a quorum queue
      (``task_default_queue_type``), durable, its messages persistent;
    - on a lost broker connection a worker stops its running chunks
      (``worker_cancel_long_running_tasks_on_connection_loss``, Celery 6's default): their
      acknowledgement would be lost with the connection, and they are delivered again;
      running them on would close their payments twice for nothing;
    - results are stored with retries while the backend is away
      (``result_backend_always_retry``), and a producer publishes with retries too.

    Each process takes one chunk at a time (``worker_prefetch_multiplier=1``): chunks
    are long tasks, and a process holding chunks it has not started would slow the run.

    Examples:
        >>> config = celery_config({"CELERY_BROKER_URL": "redis://cache:6379/0",
        ...                         "CELERY_RESULT_BACKEND": "redis://cache:6379/1"})
        >>> config["broker_url"], config["result_backend"], config["broker_transport"]
        ('redis://cache:6379/0', 'redis://cache:6379/1', None)
        >>> config["broker_transport_options"]["visibility_timeout"]
        300.0
        >>> config = celery_config({"CELERY_BROKER_URL": "amqp://u:p@rabbit:5672/opay"})
        >>> config["broker_transport_options"], config["task_default_queue_type"]
        ({'confirm_publish': True}, 'quorum')
        >>> config = celery_config({"CELERY_DATA_DIR": "/tmp/c"})
        >>> config["broker_url"], config["broker_transport"]
        ('filesystem://localhost//', 'examples.celery_worker.serverless:FilesystemTransport')
        >>> config["result_backend"]
        'examples.celery_worker.serverless:FileBackend+file:///tmp/c/results'
        >>> config["broker_transport_options"]["data_folder_in"]
        '/tmp/c/queue'
    """
    folders = local_folders(environ)
    broker = _value(environ, "CELERY_BROKER_URL") or DEFAULT_BROKER_URL
    backend = _value(environ, "CELERY_RESULT_BACKEND") or folders["results"].as_uri()
    if backend.startswith("file://"):
        backend = f"{SERVERLESS}:FileBackend+{backend}"
    config: dict[str, Any] = {
        "broker_url": broker,
        "result_backend": backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Celery 6 stops reading broker_connection_retry at start-up: say it (and no warning).
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a worker waits for its broker, forever
        "result_backend_always_retry": True,
        "result_backend_max_retries": 30,  # ~4 minutes, backing off to 10 s between tries
        # A producer's publish waits up to ~60 s for the broker, not Celery's 0.6 s.
        "task_publish_retry_policy": {
            "max_retries": 120,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 0.5,
        },
        "task_default_delivery_mode": "persistent",  # Celery's default: on disk, said
        # Set here, so that an app configured for one broker can be pointed at another.
        "broker_transport": None,
        "broker_transport_options": {},
        "task_default_queue_type": "classic",
        "task_default_exchange_type": "direct",
    }
    if broker.startswith(AMQP_SCHEMES):
        # RabbitMQ: each publish waits for the broker's confirm (the chunk is on disk),
        # into a durable quorum queue (Celery's default queue, declared as such).
        config["broker_transport_options"] = {"confirm_publish": True}
        config["task_default_queue_type"] = "quorum"
        # Celery's delayed delivery, set up on quorum queues, binds topic exchanges only.
        config["task_default_exchange_type"] = "topic"
    if broker.startswith(("redis:", "rediss:")):
        timeout = visibility_timeout(environ)
        config["broker_transport_options"] = {
            "visibility_timeout": timeout,
            "unacked_restore_interval": max(1, min(RESTORE_INTERVAL, int(timeout / 4))),
            "unacked_restore_throttle": 1,  # look every RESTORE_INTERVAL, not 10 times less
        }
    if broker.startswith("filesystem:"):
        queue = str(folders["queue"])
        config["broker_transport"] = f"{SERVERLESS}:FilesystemTransport"
        config["broker_transport_options"] = {
            "data_folder_in": queue,  # producers and workers share one folder
            "data_folder_out": queue,
            "control_folder": str(folders["control"]),
            "polling_interval": FILESYSTEM_POLLING_INTERVAL,
        }
    return config


def visibility_timeout(environ: Mapping[str, str]) -> float:
    """``CELERY_VISIBILITY_TIMEOUT`` in seconds (default 300).

    Examples:
        >>> visibility_timeout({"CELERY_VISIBILITY_TIMEOUT": "90"})
        90.0
    """
    text = _value(environ, "CELERY_VISIBILITY_TIMEOUT")
    seconds = (
        DEFAULT_VISIBILITY_TIMEOUT if text is None else _float("CELERY_VISIBILITY_TIMEOUT", text)
    )
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"CELERY_VISIBILITY_TIMEOUT: must be a positive number, got {text!r}")
    return seconds


def max_deliveries(environ: Mapping[str, str]) -> int:
    """``CELERY_MAX_DELIVERIES``: starts of one chunk at most (default 3).

    Examples:
        >>> max_deliveries({}), max_deliveries({"CELERY_MAX_DELIVERIES": "5"})
        (3, 5)
    """
    text = _value(environ, "CELERY_MAX_DELIVERIES")
    count = DEFAULT_MAX_DELIVERIES if text is None else _int("CELERY_MAX_DELIVERIES", text)
    if count < 1:
        raise ValueError(f"CELERY_MAX_DELIVERIES: must be at least 1, got {count}")
    return count


def per_process_rate(merchant_rate: float, processes: int) -> float:
    """Each worker process's share of the merchant's rate: ``merchant_rate / processes``.

    Every process enforces its share on its own client (``OPayClient(rate_limit=)``), so
    all of them together never start more than ``merchant_rate`` attempts per second.

    Examples:
        >>> per_process_rate(200, 4)  # OPAY_MERCHANT_RATE=200, 4 processes
        50.0
        >>> per_process_rate(200, 3)  # 66.67 each: 200 together
        66.66666666666667
    """
    if not (merchant_rate > 0 and math.isfinite(merchant_rate)):
        raise ValueError(f"OPAY_MERCHANT_RATE: must be a positive number, got {merchant_rate!r}")
    if processes < 1:
        raise ValueError(f"OPAY_WORKER_PROCESSES: must be at least 1, got {processes!r}")
    return merchant_rate / processes


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """How one worker process closes payments.

    Attributes:
        merchant_rate: Attempts per second OPay allows the merchant account, or ``None``.
        processes: Worker processes sharing ``merchant_rate``, on every machine together.
        concurrency: Requests in flight at most in this process.
        max_deliveries: Starts of one chunk before it ends as failed records.
    """

    merchant_rate: float | None
    processes: int
    concurrency: int = DEFAULT_CONCURRENCY
    max_deliveries: int = DEFAULT_MAX_DELIVERIES

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, pool_size: int) -> WorkerSettings:
        """The settings of ``environ``; ``pool_size`` when ``OPAY_WORKER_PROCESSES`` is unset.

        Raises:
            ValueError: A variable is not a number, or out of range.

        Examples:
            >>> settings = WorkerSettings.from_env(
            ...     {"OPAY_MERCHANT_RATE": "200", "OPAY_WORKER_PROCESSES": "4"}, pool_size=2)
            >>> settings.rate_limit, settings.concurrency
            (50.0, 50)
            >>> WorkerSettings.from_env({"OPAY_MERCHANT_RATE": "200"}, pool_size=2).rate_limit
            100.0
            >>> WorkerSettings.from_env({}, pool_size=2).rate_limit is None
            True
        """
        rate = _value(environ, "OPAY_MERCHANT_RATE")
        processes = _value(environ, "OPAY_WORKER_PROCESSES")
        concurrency = _value(environ, "OPAY_CONCURRENCY")
        settings = cls(
            merchant_rate=None if rate is None else _float("OPAY_MERCHANT_RATE", rate),
            processes=pool_size if processes is None else _int("OPAY_WORKER_PROCESSES", processes),
            concurrency=DEFAULT_CONCURRENCY
            if concurrency is None
            else _int("OPAY_CONCURRENCY", concurrency),
            max_deliveries=max_deliveries(environ),
        )
        if not 1 <= settings.concurrency <= 1000:
            raise ValueError(f"OPAY_CONCURRENCY: must be 1 to 1000, got {settings.concurrency}")
        _ = settings.rate_limit  # checks the rate and the process count
        return settings

    @property
    def rate_limit(self) -> float | None:
        """This process's share of the merchant's rate (``None``: no limit)."""
        if self.merchant_rate is None:
            return None
        return per_process_rate(self.merchant_rate, self.processes)


def _float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}: must be a number, got {text!r}") from None


def _int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: must be a whole number, got {text!r}") from None
