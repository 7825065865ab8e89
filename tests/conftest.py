import os

from hypothesis import HealthCheck, settings

# Tests that draw examples themselves: a fast, derandomized profile for CI.
settings.register_profile("ci", max_examples=20, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
