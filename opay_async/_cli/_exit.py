"""How the command ends: its exit codes, the one-line error, and SIGTERM taken as Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Final

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NOT_ALL_CLOSED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "UsageError",
    "stop_on_sigterm",
]

#: Every payment asked for was closed.
EXIT_OK: Final = 0
#: Some payments were not closed (the results say which and why).
EXIT_NOT_ALL_CLOSED: Final = 1
#: A usage or configuration error, or input or output that cannot be used: one line.
EXIT_USAGE: Final = 2
#: ``close-many`` stopped sending on an answer no later request could change (02000,
#: 02002, 02007, HTTP 401): every row has its record, those not sent say
#: ``RunStoppedError``; fix the key or the merchant's settings, then ``--resume``.
EXIT_STOPPED: Final = 4
#: Stopped by Ctrl-C (SIGINT); what was written stays valid.
EXIT_INTERRUPTED: Final = 130


class UsageError(Exception):
    """Ends the command with exit code 2 and this message on one line, no traceback.

    Raised for a bad command line or configuration, and for input or output the
    command cannot use (an unreadable file, a line that is not UTF-8, a full disk).

    Examples:
        >>> str(UsageError("--output out/: is a directory"))
        '--output out/: is a directory'
    """


def stop_on_sigterm() -> None:
    """Make SIGTERM (``kill``, ``docker stop``, systemd) cancel the running task, as Ctrl-C does.

    The task then ends the way it ends on Ctrl-C: what it wrote stays valid. Outside the
    main thread, or where signals cannot be handled by the loop, nothing changes.
    """
    task = asyncio.current_task()
    if task is None:
        return
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
