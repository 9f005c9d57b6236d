"""CPU time and memory of a server's whole process tree, read from ``/proc`` (proc(5)).

Why a tree: gunicorn forks workers from a master, granian spawns them, Node's cluster
forks them from a primary, and an entry like ``python -m cashman.serve`` may sit one
level above all of that. The figure we report is what the whole server costs, so every
live descendant of the process we started is counted, plus what each of them has
already reaped (``cutime``/``cstime``): a worker that died and was replaced mid-run is
still counted once, by the parent that waited for it.
"""

from __future__ import annotations

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# proc(5) field numbers, 1-based, minus 3: the list below starts after "pid (comm)"
_PPID, _UTIME, _STIME, _CUTIME, _CSTIME = 1, 11, 12, 13, 14


def stat_fields(pid: int) -> list[str]:
    """Fields of ``/proc/<pid>/stat`` after the command name (raises OSError if gone)."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        text = f.read()
    # the command name may itself hold spaces and parentheses: split after the last ")"
    return text.rsplit(")", 1)[1].split()


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible now."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parents[int(entry)] = int(stat_fields(int(entry))[_PPID])
        except (OSError, IndexError, ValueError):
            continue  # the process went away while we looked
    return parents


def children_of(pid: int) -> list[int]:
    """Live direct children of ``pid`` (the workers of a gunicorn master)."""
    return sorted(p for p, parent in _parents().items() if parent == pid)


def tree_of(root: int) -> list[int]:
    """``root`` and all its live descendants, root first."""
    kids: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        kids.setdefault(parent, []).append(pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(sorted(kids.get(pid, ())))
    return tree


def cpu_seconds(root: int) -> float:
    """user + sys seconds of ``root``'s process tree, reaped descendants included.

    Resolution is one clock tick (1/``SC_CLK_TCK`` s, 10 ms here) per process read.
    """
    ticks = 0
    for pid in tree_of(root):
        try:
            f = stat_fields(pid)
        except OSError:
            continue  # exited between the listing and the read: its parent reaps it
        ticks += int(f[_UTIME]) + int(f[_STIME]) + int(f[_CUTIME]) + int(f[_CSTIME])
    return ticks / CLK_TCK


def rss_mib(pid: int) -> float:
    """Resident set size of one process in MiB (``/proc/<pid>/statm``)."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE_SIZE / 2**20


def tree_rss_mib(root: int) -> float:
    """Resident memory of the whole tree in MiB (shared pages counted in each process)."""
    total = 0.0
    for pid in tree_of(root):
        try:
            total += rss_mib(pid)
        except OSError:
            continue
    return total
