"""One measurement, in a fresh process: ``python benchmarks/_worker.py SPEC_JSON``.

The runner (``_runner.py``) starts this script once per run, so no run warms another and
each run's CPU time and peak RSS are its own. It closes ``warm_up`` payments untimed,
then times the N closes with ``perf_counter`` (wall) and ``process_time`` (this
process's CPU), and prints one JSON line: the spec, the counts, the timings, the peak
RSS, the HTTP libraries the run imported and, for the SDK, the file ``opay_async`` was
imported from (the runner checks it is the one it meant). With ``"profile": PATH`` in the
spec, the timed part runs under cProfile and the stats go to PATH.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from _contenders import ERRORS_KEPT, HTTP_MODULES, Batch, Tally, contender, run, stream


def peak_rss_mib() -> float:
    """This process's own peak resident memory (MiB).

    ``ru_maxrss`` is no good here: Linux carries the parent's peak over the fork and
    exec that start this process (a parent of 300 MiB makes every child report 300 MiB),
    so read the high-water mark of this process's memory map where there is one.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes there, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def measure_run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run what ``spec`` says in this process; return the measurements."""
    name: str = spec["contender"]
    concurrency: int = spec["concurrency"]
    n: int = spec["n"]
    timing: dict[str, float] = {}
    profiler = cProfile.Profile() if spec.get("profile") else None

    if name == "memory":
        started, cpu = time.perf_counter(), time.process_time()
        tally = asyncio.run(stream(spec["base_url"], n, concurrency, spec["backend"]))
        timing.update(wall=time.perf_counter() - started, cpu=time.process_time() - cpu)
    else:
        references = [f"REF-{number}" for number in range(n)]
        warm_up = [f"WARM-{number}" for number in range(spec["warm_up"])]

        async def measure(batch: Batch) -> Tally:
            warm = await batch(warm_up)
            if profiler is not None:
                profiler.enable()
            wall, cpu = time.perf_counter(), time.process_time()
            tally = await batch(references)
            timing.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)
            if profiler is not None:
                profiler.disable()
            tally.failed += warm.failed
            tally.errors += [f"(warm-up) {error}" for error in warm.errors]
            return tally

        tally = asyncio.run(run(name, spec["base_url"], concurrency, measure))
    if profiler is not None:
        profiler.dump_stats(spec["profile"])
    sdk = name == "memory" or contender(name).sdk
    return {
        **spec,
        "ok": tally.ok,
        "failed": tally.failed,
        "retries": tally.retries,
        "errors": tally.errors[:ERRORS_KEPT],
        "rss_mib": peak_rss_mib(),
        "opay_async": sys.modules["opay_async"].__file__ if sdk else None,
        "http_modules": [module for module in HTTP_MODULES if module in sys.modules],
        **timing,
    }


if __name__ == "__main__":
    print(json.dumps(measure_run(json.loads(sys.argv[1]))))
