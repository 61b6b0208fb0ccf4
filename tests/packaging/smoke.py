"""Smoke test of an installed opay-async (a wheel or an sdist), run by ``nox -s package``.

It runs in a clean virtual environment holding only the package and its ``cli`` extra,
from a directory outside the checkout, so what it imports is what was installed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path


def main() -> None:
    import opay_async  # noqa: PLC0415 (after the path check below)
    from opay_async.testing import FakeOPay  # noqa: PLC0415

    location = Path(opay_async.__file__).resolve()
    assert "site-packages" in location.parts, f"imported from {location}, not the install"
    assert metadata.version("opay-async") == opay_async.__version__
    assert resources.files("opay_async").joinpath("py.typed").is_file()
    # httpx2 only: the unmaintained stack must not come along.
    installed = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
    assert "httpx2" in installed, installed
    stale = installed & {"httpx", "httpcore", "httpx-aiohttp", "certifi"}
    assert not stale, f"a fresh install holds {sorted(stale)}"

    async def close() -> None:
        async with FakeOPay(auto_create=True).client() as opay:
            payment = await opay.close_payment(reference="SMOKE-1", country="EG")
        assert payment.is_closed

    asyncio.run(close())
    command = [sys.executable, "-m", "opay_async"]
    one = subprocess.run(
        [*command, "close", "--simulate", "--reference", "SMOKE-2", "--country", "EG", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(one.stdout)["ok"] is True
    many = subprocess.run(
        [*command, "close-many", "-", "--simulate", "--country", "NG"],
        input="A-1\nA-2\nA-3\n",
        capture_output=True,
        text=True,
        check=False,
    )
    records = [json.loads(line) for line in many.stdout.splitlines()]
    assert sorted(record["reference"] for record in records) == ["A-1", "A-2", "A-3"], many
    print(f"smoke test passed: opay-async {opay_async.__version__} from {location.parent}")


if __name__ == "__main__":
    main()
