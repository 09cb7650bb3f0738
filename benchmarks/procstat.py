"""Process CPU time and resident memory, read from /proc.

CPU per message is the benchmark's headline figure: unlike messages per second it does
not drop when a neighbour steals the core, so it stays comparable on a shared machine.
"""

from __future__ import annotations

import os

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of every thread of ``pid`` (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name (field 2) may contain spaces or parentheses: split after its ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size (second field of /proc/PID/statm)."""
    with open(f"/proc/{pid}/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children...), from /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every process below it: a server with worker processes
    (``twistd bws --workers N``) is measured whole."""
    total = cpu_seconds(pid)
    for child in descendants(pid):
        try:
            total += cpu_seconds(child)
        except OSError:
            pass  # exited meanwhile
    return total


def connections_per_process(pid: int, port: int) -> list[int]:
    """Established TCP connections on local ``port`` held by each worker process below
    ``pid`` (by ``pid`` itself when it has none), largest first: how the kernel spread
    them over the workers. A worker holding none counts as 0."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    counts = []
    for proc in descendants(pid) or [pid]:
        try:
            fds = os.listdir(f"/proc/{proc}/fd")
        except OSError:
            continue
        held = 0
        for fd in fds:
            try:
                held += os.readlink(f"/proc/{proc}/fd/{fd}") in inodes
            except OSError:
                pass
        counts.append(held)
    return sorted(counts, reverse=True)
