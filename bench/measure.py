"""Timing and process-memory helpers the benchmarks and their peer processes share.

Standard library only: the DGL peers import it from their own environment
(numpy<2, no fastgnn).
"""
import json
import time


def time_runs(run, reset, repeat, warmup, budget_s):
    """Run times (s) of ``run`` after ``warmup`` runs; fewer than ``repeat`` (at least 1) when runs are slow.

    ``reset()`` is called before every run, untimed; the count is cut so the
    timed runs take about ``budget_s`` seconds by the last warm-up's time.
    """
    last = None
    for _ in range(max(warmup, 1)):
        reset()
        start = time.perf_counter()
        run()
        last = time.perf_counter() - start
    count = max(1, min(repeat, int(budget_s / max(last, 1e-9))))
    times = []
    for _ in range(count):
        reset()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def _proc_kb(path, field):
    """The kB figure of ``field`` in the /proc file ``path`` (Linux), or None."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def status_kb(field):
    """A kB field of /proc/self/status (``VmRSS``, ``VmHWM``, ...), or None."""
    return _proc_kb("/proc/self/status", field)


def resident_mb():
    """This process's resident memory now (VmRSS, Linux), in MB, or None.

    Not the peak: a process started by fork and exec inherits its parent's
    high-water mark on Linux, so ``ru_maxrss`` would report the parent's.
    """
    kb = status_kb("VmRSS")
    return None if kb is None else kb / 1024


def anon_huge_pages_mb():
    """Anonymous memory of this process on transparent huge pages (Linux), in MB, or None."""
    kb = _proc_kb("/proc/self/smaps_rollup", "AnonHugePages")
    return None if kb is None else kb / 1024


def reset_peak():
    """Reset this process's VmHWM to its current RSS (Linux); False when the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_growth_mb(run):
    """``(MB, result)``: how far the peak RSS rose above the RSS before ``run()`` (None where unknown)."""
    base = status_kb("VmRSS")
    resettable = reset_peak()
    result = run()
    peak = status_kb("VmHWM")
    return ((max(peak - base, 0) / 1024.0) if resettable and peak and base else None), result


def append_json_lines(path, records):
    """Append each record (a JSON-serialisable dict) as one line to ``path``; nothing when ``path`` is None."""
    if not path:
        return
    with open(path, "a") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
