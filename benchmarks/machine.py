"""What every benchmark records about the machine it ran on, beside its figures.

Timings mean little without the core count and what else was running: the load average
is taken when the measurement starts, so a busy machine shows in the figures it slowed.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the system has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """Python version, platform, core count and the current load average."""
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "load_average": load_average()}
