"""Where the CPU went during a benchmark, from /proc (Linux): this process and the
children it has reaped, PostgreSQL's processes (those it has reaped included), and
the whole machine. What is left of the machine's is everything else: a local
object store's server, the kernel's work for all of them, and other load.

    before = snapshot()
    ...
    spent = since(before)    # {"ours": s, "postgresql": s, "machine": s, "other": s}

On a system without /proc every figure is None.
"""
from __future__ import annotations

import os
import resource

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _ours() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _postgresql() -> float:
    """CPU seconds of every process running the postgres executable, with their reaped
    children's (a backend that has exited is counted in the postmaster's)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                if f.read().strip() != b"postgres":
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / _TICK    # utime, stime, cutime, cstime
    return total


def _machine() -> float:
    """Busy CPU seconds of the whole machine since boot (all but idle and iowait)."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / _TICK


def snapshot() -> dict[str, float] | None:
    if not os.path.exists("/proc/stat"):
        return None
    return {"ours": _ours(), "postgresql": _postgresql(), "machine": _machine()}


def since(before: dict[str, float] | None) -> dict[str, float | None]:
    now = snapshot()
    if before is None or now is None:
        return {"ours": None, "postgresql": None, "machine": None, "other": None}
    spent = {k: now[k] - before[k] for k in now}
    spent["other"] = max(0.0, spent["machine"] - spent["ours"] - spent["postgresql"])
    return spent


def per_item(spent: dict[str, float | None], items: int, noun: str = "item") -> str:
    """One line: the CPU per item, in ms, by who spent it."""
    if spent["machine"] is None or not items:
        return f"CPU per {noun}: not measured (no /proc)"
    ms = {k: (v or 0.0) * 1000 / items for k, v in spent.items()}
    return (f"CPU per {noun}: {ms['machine']:.2f} ms on the machine = this benchmark's processes {ms['ours']:.2f} + "
            f"PostgreSQL {ms['postgresql']:.2f} + everything else {ms['other']:.2f} "
            f"(a local object store's server, the kernel's I/O, other load)")
