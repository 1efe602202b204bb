"""Shared by every test folder: the ``telltale`` logger as each test found it, and the small
real runs of tests/fixture_runs.py."""

import pytest

from telltale.console import log


@pytest.fixture(autouse=True)
def _telltale_logger_restored():
    """A test that runs the CLI in-process calls ``console.configure``, which stops the
    logger propagating (so pytest's ``caplog`` would see nothing in later tests); put its
    handlers, level and propagation back."""
    kept = (list(log.handlers), log.level, log.propagate)
    yield
    log.handlers[:], log.level, log.propagate = kept[0], kept[1], kept[2]


@pytest.fixture(scope="session")
def fixture_runs(tmp_path_factory):
    """The small real runs of tests/fixture_runs.py, built once per session (the page tests
    read them; tests that change one work on a copy)."""
    from fixture_runs import build

    return build(tmp_path_factory.mktemp("fixture-runs"))
