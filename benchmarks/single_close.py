"""CPU per ``close_payment``, one call after another, against a raw httpx2 POST.

    python benchmarks/single_close.py [--n 3000] [--rounds 3]

Both run against the same loopback server (answering at once), each in a fresh process
that imports this checkout's ``opay_async`` (as installed, see ``_runner.current_sdk``),
interleaved; the table shows the median CPU time per call of the client process. Needs
only the SDK's own dependencies (httpx2 is one of them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

from _contenders import KEY, MERCHANT, PATH, signed
from _runner import current_sdk, loopback_server, worker_env

WARM_UP = 300


async def raw(url: str, n: int) -> float:
    """CPU seconds of ``n`` raw httpx2 POSTs of a signed close, one after another."""
    import httpx2

    async with httpx2.AsyncClient(timeout=30) as client:

        async def one(reference: str) -> None:
            body, headers = signed(reference)
            response = await client.post(url + PATH, content=body, headers=headers)
            assert json.loads(response.content)["code"] == "00000"

        for number in range(WARM_UP):
            await one(f"warm-{number}")
        started = time.process_time()
        for number in range(n):
            await one(f"REF-{number}")
        return time.process_time() - started


async def sdk(url: str, n: int) -> float:
    """CPU seconds of ``n`` ``close_payment`` calls, one after another."""
    from opay_async import OPayClient

    async with OPayClient(MERCHANT, KEY, base_url=url) as opay:
        for number in range(WARM_UP):
            await opay.close_payment(reference=f"warm-{number}", country="EG")
        started = time.process_time()
        for number in range(n):
            payment = await opay.close_payment(reference=f"REF-{number}", country="EG")
            assert payment.is_closed
        return time.process_time() - started


def main() -> None:
    """Run both in fresh processes, interleaved; print the table (or, as a worker, µs)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._worker:
        kind, url = args._worker
        cpu = asyncio.run((raw if kind == "raw-httpx2" else sdk)(url, args.n))
        print(cpu / args.n * 1e6)
        return
    per_call: dict[str, list[float]] = {"raw-httpx2": [], "close_payment": []}
    with loopback_server(0.0) as url:
        for round_number in range(args.rounds):
            order = list(per_call) if round_number % 2 == 0 else list(reversed(per_call))
            for kind in order:
                done = subprocess.run(
                    [sys.executable, __file__, "--n", str(args.n), "--_worker", kind, url],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=worker_env(current_sdk()[0]),  # this checkout's opay_async
                )
                per_call[kind].append(float(done.stdout))
    raw_us = statistics.median(per_call["raw-httpx2"])
    sdk_us = statistics.median(per_call["close_payment"])
    print(f"$ python benchmarks/single_close.py --n {args.n} --rounds {args.rounds}")
    print("| client | CPU µs per call (median) | runs |")
    print("| --- | ---: | --- |")
    for kind, values in per_call.items():
        runs = ", ".join(f"{value:.0f}" for value in values)
        print(f"| {kind} | {statistics.median(values):.0f} | {runs} |")
    print(f"\nclose_payment / raw httpx2 POST: {sdk_us / raw_us:.2f}x CPU per call")


if __name__ == "__main__":
    main()
