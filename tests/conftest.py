import os

import pytest
from hypothesis import HealthCheck, settings

# Tests that draw examples themselves: a fast, derandomized profile for CI.
settings.register_profile(
    "ci", max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# `quiz` runs started by the tests keep no history (they grade reference/ in place), except where
# a test names a history file of its own.
os.environ["QUIZ_HISTORY"] = "off"

# `python -m quizgrader` as a child that Ctrl-C reaches: a process started in the background
# inherits SIGINT ignored, and the command only installs its own handler over the default one.
CTRL_C_REACHES = [
    "-c",
    (
        "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('quizgrader', run_name='__main__', alter_sys=True)"
    ),
]


@pytest.fixture(scope="session")
def zygote():
    """One warm process for the learner's code, shared by the tests that grade: each grade()
    still forks a fresh child per exercise from it, as a run of `quiz grade` does."""
    from quizgrader.sandbox.process import Zygote

    with Zygote() as z:
        yield z


@pytest.fixture(autouse=True)
def _console_as_new():
    """`quiz grade --ci` sets the module's console to plain text; a test run in the same process
    after it starts from the console as a new process has it."""
    from quizgrader import cli

    saved = cli.console.no_color, cli.console.soft_wrap
    yield
    cli.console.no_color, cli.console.soft_wrap = saved
