"""Shared by every test folder: the ``telltale`` logger as each test found it."""

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
