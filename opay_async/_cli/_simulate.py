"""``opay-async simulate``: serve the OPay simulator over HTTP until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import shlex
import sys
from typing import Any

from .. import OPayError
from .._install import install_hint
from ._config import read_secret_key_file
from ._exit import EXIT_OK, UsageError, stop_on_sigterm
from ._text import printable

__all__ = ["simulate"]


def simulate(args: argparse.Namespace) -> int:
    """Serve ``FakeOPay`` on ``--host``/``--port`` and print its banner; 0 when stopped.

    The banner's first line is ``OPay simulator listening on <base URL>`` (with
    ``--port 0``, the port it got); then come its settings, an ``export`` line pointing
    ``OPayClient.from_env()`` at it, and last ``Ctrl-C stops it.``. A key given with
    ``--secret-key-file`` is never shown.

    Raises:
        UsageError: The ``simulator`` extra (uvicorn) is missing, the port cannot be
            listened on, or the merchant id or key file is bad.
    """
    if importlib.util.find_spec("uvicorn") is None:
        raise UsageError(
            f"opay-async simulate needs the simulator extra: {install_hint('simulator')}"
        )
    from ..testing import FakeOPay, SimulatorBanner  # noqa: PLC0415 (only this command)

    options: dict[str, Any] = {"auto_create": not args.strict}
    if args.merchant_id is not None:
        options["merchant_id"] = args.merchant_id
    own_key = args.secret_key_file is not None
    try:
        if own_key:
            key = read_secret_key_file(args.secret_key_file)
            fake = FakeOPay(secret_key=key.reveal(), **options)
        else:
            fake = FakeOPay(**options)
    except OPayError as error:
        raise UsageError(str(error)) from None

    if args.fault_rate is not None:
        fake.fault_rates = args.fault_rate
    if args.latency is not None:
        fake.set_latency(*args.latency)
    key_source = f'"$(cat {shlex.quote(args.secret_key_file)})"' if own_key else None

    async def serve() -> None:
        stop_on_sigterm()
        async with fake.serve(host=args.host, port=args.port) as base_url:
            banner = SimulatorBanner.of(fake, base_url, key_source=key_source)
            for line in [*banner.lines(), "Ctrl-C stops it."]:
                print(printable(line, limit=1000))
            sys.stdout.flush()
            await asyncio.Event().wait()

    try:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(serve())
    except OPayError as error:  # the port is taken, the host is not ours, uvicorn failed
        raise UsageError(str(error)) from None
    return EXIT_OK
