"""Scripted outcomes: a reference that says how the simulator must answer it.

A test in any language asks for an outcome by choosing its data: a reference holding
one block ``[sim:TOKEN,TOKEN,...]`` (case-insensitive) is answered as the tokens say.

- ``paid``, ``pending``, ``failed``, ``closed``, ``initial``: the state the payment gets
  when the simulator creates it on first sight (with or without ``auto_create``);
- ``NNNNN``: OPay code ``NNNNN`` (five digits) with its message, HTTP 200;
- ``httpNNN``: HTTP ``NNN`` (400 to 599) with an HTML page;
- ``malformed``: HTTP 200 with a truncated body;
- ``drop`` / ``timeout``: the connection breaks / nothing is answered;
- ``drop-after-close`` / ``timeout-after-close``: the payment closes, the answer is lost.

A fault token may end in ``xN`` (``50003x2``): the first ``N`` requests for the
reference get it, then the next token applies, then the normal answer. A fault token
without a count answers every request from then on, so it must be the last one.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Final

import attrs

from .._payment import OrderStatus
from .._repr import SafeRepr
from ._faults import BAD_GATEWAY_PAGE, Fault, FaultKind
from ._reply import message_for

__all__ = ["MAX_COUNT", "Script", "ScriptBook", "ScriptError", "parse_script"]

#: The largest ``xN`` count a token takes.
MAX_COUNT: Final = 1_000

_MARKER: Final = re.compile(r"\[sim:", re.IGNORECASE | re.ASCII)
_BLOCK: Final = re.compile(r"\[sim:([^\[\]]*)\]", re.IGNORECASE | re.ASCII)
_TOKEN: Final = re.compile(r"(?P<what>[a-z0-9-]+?)(?:x(?P<count>[0-9]{1,4}))?")
_STATES: Final = {
    "paid": OrderStatus.SUCCESS,
    "pending": OrderStatus.PENDING,
    "failed": OrderStatus.FAIL,
    "closed": OrderStatus.CLOSE,
    "initial": OrderStatus.INITIAL,
}
_NAMED_FAULTS: Final = {
    "malformed": Fault(kind=FaultKind.MALFORMED),
    "drop": Fault(kind=FaultKind.DROP),
    "timeout": Fault(kind=FaultKind.TIMEOUT),
    "drop-after-close": Fault(kind=FaultKind.DROP, after_close=True),
    "timeout-after-close": Fault(kind=FaultKind.TIMEOUT, after_close=True),
}


class ScriptError(ValueError):
    """A reference holds ``[sim:`` but not a script the simulator understands."""


@attrs.frozen(repr=False)
class Script(SafeRepr):
    """The outcome a reference asks for.

    Attributes:
        state: The state a payment created for it gets (``None``: not given).
        steps: Faults in order, each for a number of requests (``None``: every one).
    """

    state: OrderStatus | None = None
    steps: tuple[tuple[Fault, int | None], ...] = ()

    def fault_for(self, attempt: int) -> Fault | None:
        """The fault for the ``attempt``-th request (from 1), or ``None``: answer normally."""
        for fault, count in self.steps:
            if count is None or attempt <= count:
                return fault
            attempt -= count
        return None


def parse_script(reference: str) -> Script | None:
    """The script in ``reference``, or ``None`` when it holds no ``[sim:`` block.

    Raises:
        ScriptError: A ``[sim:`` block that is not closed, more than one block, an
            unknown token, two state tokens, or a token after one without a count.

    Examples:
        >>> parse_script("ORDER-17")
        >>> parse_script("ORDER-17[sim:paid]").state
        <OrderStatus.SUCCESS: 'SUCCESS'>
        >>> script = parse_script("ORDER-18[SIM:50003x2]")
        >>> [script.fault_for(n) is None for n in (1, 2, 3)]
        [False, False, True]
    """
    if _MARKER.search(reference) is None:
        return None
    blocks = _BLOCK.findall(reference)
    if len(blocks) != 1 or len(_MARKER.findall(reference)) != 1:
        raise ScriptError("a reference holds one [sim:...] block, closed by ']'")
    state: OrderStatus | None = None
    steps: list[tuple[Fault, int | None]] = []
    for raw in blocks[0].split(","):
        token = raw.strip().lower()
        if steps and steps[-1][1] is None:
            raise ScriptError(f"{token!r} comes after a token without a count: it never applies")
        if token in _STATES:
            if state is not None:
                raise ScriptError(f"two states: {state.value.lower()!r} and {token!r}")
            state = _STATES[token]
            continue
        steps.append(_step(token))
    return Script(state, tuple(steps))


def _step(token: str) -> tuple[Fault, int | None]:
    match = _TOKEN.fullmatch(token)
    fault = None if match is None else _fault(match["what"])
    if match is None or fault is None:
        raise ScriptError(
            f"unknown token {token!r}; tokens: paid, pending, failed, closed, initial, a "
            "five-digit code, httpNNN, malformed, drop, timeout, drop-after-close, "
            "timeout-after-close, each fault optionally followed by xN"
        )
    if match["count"] is None:
        return fault, None
    count = int(match["count"])
    if not 1 <= count <= MAX_COUNT:
        raise ScriptError(f"the count of {token!r} must be from 1 to {MAX_COUNT}")
    return fault, count


def _fault(what: str) -> Fault | None:
    if len(what) == 5 and what.isdigit():
        return Fault(kind=FaultKind.API_ERROR, code=what, message=message_for(what))
    if len(what) == 7 and what.startswith("http") and what[4:].isdigit():
        status = int(what[4:])
        if 400 <= status <= 599:
            return Fault(kind=FaultKind.HTTP_ERROR, status=status, body=_error_page(status))
        return None
    return _NAMED_FAULTS.get(what)


def _error_page(status: int) -> str:
    if status == 502:
        return BAD_GATEWAY_PAGE
    try:
        title = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        title = f"{status} Error"
    return f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"


class ScriptBook:
    """How many requests each scripted reference has had, to know which step is next."""

    def __init__(self) -> None:
        self._attempts: dict[str, int] = {}

    def attempt(self, reference: str) -> int:
        """Count one more request for ``reference``; returns its number (from 1)."""
        attempt = self._attempts.get(reference, 0) + 1
        self._attempts[reference] = attempt
        return attempt

    def clear(self) -> None:
        """Start every count again."""
        self._attempts.clear()
