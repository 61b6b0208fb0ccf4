"""pytest configuration: the one hypothesis profile of the suite."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# One profile for every property test: no per-test deadline (CI machines are shared and
# slow), a bounded number of examples, more of them when asked for (HYPOTHESIS_PROFILE=ci).
settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
