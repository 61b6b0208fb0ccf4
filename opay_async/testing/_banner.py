"""What a served simulator tells the people and programs that start it."""

from __future__ import annotations

import shlex
from typing import Final

import attrs

from .._repr import SafeRepr
from ._fake import FakeOPay
from ._faults import FaultRates
from ._opay import DEFAULT_MERCHANT_ID, DEFAULT_SECRET_KEY

__all__ = ["SimulatorBanner"]

_RATE_LABELS: Final = {
    "service_unavailable": "50003",
    "http_502": "HTTP 502",
    "malformed": "malformed",
    "drop": "drop",
    "timeout": "timeout",
}


@attrs.frozen(kw_only=True, repr=False)
class SimulatorBanner(SafeRepr):
    """The start-up banner of a served simulator: where it is and how to reach it.

    Its first line is always ``OPay simulator listening on <base URL>``, so a script
    that started it with port 0 can read the port it got. The default secret key is
    public and made up, so it is shown; any other key never is.

    Attributes:
        base_url: Where the simulator listens, e.g. ``http://127.0.0.1:8000``.
        merchant_id: The merchant id it accepts.
        secret_key: The key it checks signatures with (not in ``repr``).
        auto_create: Whether unknown payments are created on their first close.
        paid_answer: How it answers a close of a paid payment.
        fault_rates: The random fault rates.
        latency: The latency range in seconds, ``(minimum, maximum)``.
        key_source: Shell text that gives a key other than the default, for the
            ``export`` line (e.g. ``"$(cat key.txt)"``); ``None`` leaves it out.

    Examples:
        >>> banner = SimulatorBanner(base_url="http://127.0.0.1:8000")
        >>> banner.port
        8000
        >>> print(banner.exports)
        export OPAY_MERCHANT_ID=256612345678901 OPAY_SECRET_KEY=OPAYPRV_SIMULATOR_KEY_NOT_A_SECRET \
OPAY_BASE_URL=http://127.0.0.1:8000
    """

    base_url: str
    merchant_id: str = DEFAULT_MERCHANT_ID
    secret_key: str = attrs.field(default=DEFAULT_SECRET_KEY, repr=False)
    auto_create: bool = True
    paid_answer: str = "status"
    fault_rates: FaultRates = attrs.field(factory=FaultRates)
    latency: tuple[float, float] = (0.0, 0.0)
    key_source: str | None = None

    @classmethod
    def of(cls, fake: FakeOPay, base_url: str, *, key_source: str | None = None) -> SimulatorBanner:
        """The banner of ``fake`` served at ``base_url`` (what ``fake.serve()`` yielded).

        Args:
            fake: The simulator.
            base_url: Where it listens.
            key_source: Shell text that gives a key other than the default one, for the
                ``export`` line (e.g. ``"$(cat key.txt)"``).

        Examples:
            ```python
            async with fake.serve(port=0) as base_url:
                print(SimulatorBanner.of(fake, base_url), flush=True)
            ```
        """
        return cls(
            base_url=base_url,
            merchant_id=fake.merchant_id,
            secret_key=fake.secret_key,
            auto_create=fake.auto_create,
            paid_answer=fake.paid_answer,
            fault_rates=fake.fault_rates,
            latency=fake.latency_range,
            key_source=key_source,
        )

    @property
    def port(self) -> int:
        """The port it listens on (the one it got, when it was asked for port 0)."""
        return int(self.base_url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def key_is_public(self) -> bool:
        """Whether the key is the simulator's public default one."""
        return self.secret_key == DEFAULT_SECRET_KEY

    @property
    def environment(self) -> dict[str, str]:
        """The ``OPAY_*`` variables for a client: the secret key only when it is the default."""
        variables = {"OPAY_MERCHANT_ID": self.merchant_id}
        if self.key_is_public:
            variables["OPAY_SECRET_KEY"] = self.secret_key
        variables["OPAY_BASE_URL"] = self.base_url
        return variables

    @property
    def exports(self) -> str:
        """One shell line that points ``OPayClient.from_env()`` (or any service) at it."""
        words = [f"{name}={shlex.quote(value)}" for name, value in self.environment.items()]
        if not self.key_is_public and self.key_source is not None:
            words.insert(1, f"OPAY_SECRET_KEY={self.key_source}")
        return "export " + " ".join(words)

    def lines(self) -> list[str]:
        """The banner, line by line."""
        if self.key_is_public:
            key = f"{self.secret_key} (public and made up: not a secret)"
        else:
            key = "the key it was given (not shown)"
        creates = (
            "created as unpaid on their first close"
            if self.auto_create
            else "answered 02006 (strict)"
        )
        paid = "00000 with orderStatus SUCCESS" if self.paid_answer == "status" else "02001"
        rates = [
            f"{_RATE_LABELS[name]} {rate:.1%}"
            for name, rate in self.fault_rates.as_dict().items()
            if rate > 0
        ]
        low, high = self.latency
        latency = "none" if high == 0 else f"{low:g} s" if low == high else f"{low:g}-{high:g} s"
        return [
            f"OPay simulator listening on {self.base_url}",
            f"  merchant id       {self.merchant_id}",
            f"  secret key        {key}",
            f"  unknown payments  {creates}",
            f"  paid payments     {paid}",
            f"  random faults     {', '.join(rates) or 'none'}",
            f"  latency           {latency}",
            f"  admin API         {self.base_url}/_simulator/",
            "Point a client at it:",
            f"  {self.exports}",
        ]

    def __str__(self) -> str:
        if not all(hasattr(self, field.name) for field in attrs.fields(SimulatorBanner)):
            return repr(self)  # a traceback's locals, while __init__ has not finished
        return "\n".join(self.lines())
