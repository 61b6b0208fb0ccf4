"""The client a command uses: ``OPayClient.from_env`` with the flags as overrides.

The environment (``OPAY_MERCHANT_ID``, ``OPAY_SECRET_KEY``, ``OPAY_ENVIRONMENT``,
``OPAY_BASE_URL``) is read by ``OPayClient.from_env`` alone; a flag overrides its
variable. The secret key is never a command-line value (anyone on the machine can read
those in ``ps``): it comes from the environment or from ``--secret-key-file``.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
from typing import Any, Final

from .. import OPayClient, OPayError, RetryPolicy, SecretKey
from ._exit import UsageError
from ._text import printable

__all__ = ["SIMULATED_FAULT_RATE", "SIMULATOR_URL", "build_client", "read_secret_key_file"]

#: Transient 50003 answers the built-in simulator gives, to show retries at work.
SIMULATED_FAULT_RATE: Final = 0.03
#: The base URL of the built-in simulator, as ``-v`` logs it: it runs inside the process
#: and nothing is sent anywhere (``.invalid`` is a name no DNS ever resolves, RFC 2606).
SIMULATOR_URL: Final = "https://opay-simulator.invalid"

logger = logging.getLogger("opay_async.cli")
#: A key file larger than this is not a key file.
MAX_KEY_FILE_BYTES: Final = 4096

#: Each setting's variable and flag, for messages about a missing or bad one.
_SETTINGS: Final = {
    "merchant_id": ("OPAY_MERCHANT_ID", "--merchant-id"),
    "secret_key": ("OPAY_SECRET_KEY", "--secret-key-file"),
    "environment": ("OPAY_ENVIRONMENT", "--environment"),
    "base_url": ("OPAY_BASE_URL", "--base-url"),
}


def read_secret_key_file(path: str) -> SecretKey:
    """The secret key held in the file at ``path``, checked, never in a local of ours.

    Surrounding whitespace (a CRLF line end) is stripped. At most 4096 bytes are read.

    Raises:
        UsageError: The file cannot be read, is empty, too large, not UTF-8 text, or
            does not hold a usable secret key. The message never quotes the key.
    """
    shown = printable(path)
    try:
        with open(path, encoding="utf-8", errors="strict", newline="") as stream:
            status = os.fstat(stream.fileno())
            size = status.st_size
            if size > MAX_KEY_FILE_BYTES:
                raise UsageError(
                    f"--secret-key-file {shown}: {size} bytes is too large for a key file"
                )
            if size == 0 and stat.S_ISREG(status.st_mode):
                raise UsageError(f"--secret-key-file {shown} is empty")
            key = SecretKey(stream.read(MAX_KEY_FILE_BYTES + 1))  # the first line holding it
    except UnicodeDecodeError:
        raise UsageError(f"--secret-key-file {shown}: not UTF-8 text") from None
    except OSError as error:
        raise UsageError(f"cannot read --secret-key-file {shown}: {error.strerror}") from None
    try:
        return key.check()
    except OPayError as error:
        problem = str(error).removeprefix("secret_key: ")
        raise UsageError(f"--secret-key-file {shown}: {problem}") from None


def _simulator_client(options: dict[str, Any]) -> OPayClient:
    from ..testing import FakeOPay  # noqa: PLC0415 (only for --simulate)

    fake = FakeOPay(auto_create=True)
    fake.set_fault_rates(service_unavailable=SIMULATED_FAULT_RATE, seed=2026)
    fake.set_latency(0.005, 0.04)
    logger.info(
        "--simulate: requests go to the simulator inside this process (%s); nothing leaves it",
        SIMULATOR_URL,
    )
    return fake.client(base_url=SIMULATOR_URL, **options)


def _tuning(args: argparse.Namespace) -> dict[str, Any]:
    return {"timeout": args.timeout, "retry": RetryPolicy(attempts=args.attempts)}


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = _tuning(args)
    if args.secret_key_file is not None:
        overrides["secret_key"] = read_secret_key_file(args.secret_key_file)
    for flag in ("merchant_id", "environment", "base_url"):
        value = getattr(args, flag)
        if value is not None:
            overrides[flag] = value
    return overrides


def build_client(args: argparse.Namespace) -> OPayClient:
    """The client for ``args``: the simulator's with ``--simulate``, else from the environment.

    Raises:
        UsageError: A setting is missing or bad; the message names it and where it
            comes from.
    """
    if args.simulate:
        client = _simulator_client(_tuning(args))
    else:
        try:
            client = OPayClient.from_env(**_overrides(args))
        except OPayError as error:
            raise UsageError(_where_from(error, args)) from None
    _log_destination(client)
    return client


def _log_destination(client: OPayClient) -> None:
    """Say (``-v``) where closes are posted: Egypt's host and every other country's."""
    egypt, other = client.url_for("EG"), client.url_for("NG")
    if egypt == other:
        logger.info("closes are posted to %s", egypt)
    else:
        logger.info("closes are posted to %s for EG, to %s for other countries", egypt, other)


def _where_from(error: OPayError, args: argparse.Namespace) -> str:
    """The error's message, saying where the setting it is about came from."""
    field = getattr(error, "field", "")
    if field not in _SETTINGS:
        return str(error)
    variable, flag = _SETTINGS[field]
    if getattr(args, flag.removeprefix("--").replace("-", "_"), None) is not None:
        return f"{error} (from {flag})"
    if str(error).startswith(f"{field}: set the "):  # missing
        argument = " FILE" if field == "secret_key" else ""
        return f"{error}, or pass {flag}{argument}, or try --simulate"
    return f"{error} (from ${variable})"
