"""The driver's lease on a pipeline run: one process drives a run at a time.

The claim is taken under a row lock, so two claimants never both see the run unclaimed. A
holder is alive when it is a live process on this host since its last boot (the same process:
its start time matches, so a reused PID does not count), or when its heartbeat elsewhere is
recent (``STALE_DRIVER_SECONDS``). ``identity`` and ``alive`` also say whether the driver of a
single execution lives (``catalog/drivers.py``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from assay.catalog import Catalog, driven_runs
from assay.catalog.driven_runs import DrivenRun
from assay.errors import Conflict

STALE_DRIVER_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0


class Lease:
    def __init__(self, catalog: Catalog, run_id: str) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self._me: dict[str, Any] = {}
        self._beat = 0.0

    def claim(self) -> DrivenRun:
        """Take the run, or raise ``Conflict`` naming the process that holds it; the run as
        read under the claim's row lock."""
        me = identity()
        claim = driven_runs.claim_run(self.catalog, self.run_id, me, held=lambda driver: alive(driver, me))
        if not claim.taken:
            run = claim.run
            raise Conflict(
                f"pipeline run #{run.counter} is being driven by process {run.driver.get('pid')} "
                f"on {run.driver.get('host')}",
                hint=f"wait for it, or stop the run with `assay pipeline stop {run.counter}`",
            )
        self._me = me
        self._beat = time.monotonic()
        return claim.run

    def heartbeat(self) -> None:
        """Tell drivers on other hosts that this one is alive (they wait STALE_DRIVER_SECONDS)."""
        if time.monotonic() - self._beat < HEARTBEAT_SECONDS:
            return
        self._beat = time.monotonic()
        self._me = {**self._me, "at": time.time()}
        driven_runs.set_driver(self.catalog, self.run_id, self._me)

    def release(self) -> None:
        driven_runs.set_driver(self.catalog, self.run_id, {})


def identity() -> dict[str, Any]:
    """This process as a driver: its PID, host, boot, start time, and the time now."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "boot": boot_id(), "start": start_time(pid),
            "at": time.time()}  # fmt: skip


def alive(driver: Mapping[str, Any], me: Mapping[str, Any]) -> bool:
    """Whether another driver holds the run: a live process here, or a recent one elsewhere."""
    if not driver or (driver.get("pid") == me["pid"] and driver.get("host") == me["host"]):
        return False
    if driver.get("host") == me["host"]:
        if driver.get("boot") != me.get("boot"):
            return False  # the machine restarted since: that process is gone, whatever its PID
        try:
            os.kill(int(driver["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError):
            return False
        except PermissionError:
            return True
        recorded = driver.get("start")
        return recorded is None or start_time(int(driver["pid"])) in (None, recorded)
    return time.time() - float(driver.get("at", 0)) < STALE_DRIVER_SECONDS


def start_time(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (``/proc/PID/stat``); None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return int(fields[19]) if len(fields) > 19 else None


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
