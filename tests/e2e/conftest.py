"""The small demo every end-to-end test of the audio audits runs on (built once)."""

from pathlib import Path

import pytest
from cli import telltale


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    telltale("-q", "demo", "--size", "small", "--out", out)
    return out
