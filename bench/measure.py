"""Timing and process-memory helpers the benchmarks and their peer processes share.

Standard library only: the DGL peers import it from their own environment
(numpy<2, no fastgnn).
"""
import argparse
import json
import subprocess
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


def int_list(text, minimum=1):
    """An option's comma-separated integers (each at least ``minimum``); argparse's error otherwise."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < minimum:
        raise argparse.ArgumentTypeError(f"expected integers of at least {minimum}, got {text!r}")
    return values


def fanout_list(text):
    """Comma-separated fan-outs: positive, or -1 for every neighbour (the sampler checks the rest)."""
    return int_list(text, minimum=-1)


class Peer:
    """A worker process kept alive, driven by one ``ROUND <threads>`` line per timed round.

    It prints one JSON line when ready (kept as ``info``) and one per round;
    ``QUIT`` (or end of input) ends it.
    """

    def __init__(self, command, cwd=None):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd)
        self.info = self._reply()

    def _reply(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker exited (status {self.process.wait()})")
        return json.loads(line)

    def round(self, threads):
        self.process.stdin.write(f"ROUND {threads}\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("QUIT\n")
                self.process.stdin.flush()
                self.process.wait(timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
