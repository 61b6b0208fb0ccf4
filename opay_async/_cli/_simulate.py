"""``opay-async simulate``: serve the OPay simulator over HTTP until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
from typing import Any

from .. import OPayError
from ._config import read_secret_key_file
from ._exit import EXIT_OK, UsageError
from ._text import printable

__all__ = ["simulate"]


def simulate(args: argparse.Namespace) -> int:
    """Serve ``FakeOPay`` on ``--host``/``--port`` and print its URL; 0 when stopped.

    Raises:
        UsageError: The ``simulator`` extra (uvicorn) is missing, the port cannot be
            listened on, or the merchant id or key file is bad.
    """
    if importlib.util.find_spec("uvicorn") is None:
        raise UsageError(
            "opay-async simulate needs the simulator extra: pip install 'opay-async[simulator]'"
        )
    from ..testing import FakeOPay  # noqa: PLC0415 (only this command needs it)

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

    async def serve() -> None:
        async with fake.serve(host=args.host, port=args.port) as base_url:
            key = "from --secret-key-file" if own_key else "the default"
            print(
                f"OPay simulator on {printable(base_url)} (merchant id "
                f"{printable(fake.merchant_id)}, secret key: {key}); Ctrl-C stops it",
                flush=True,
            )
            await asyncio.Event().wait()

    try:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(serve())
    except OPayError as error:  # the port is taken, the host is not ours, uvicorn failed
        raise UsageError(str(error)) from None
    return EXIT_OK
