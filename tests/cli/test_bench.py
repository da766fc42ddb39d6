"""``python -m fastgnn bench``: fastgnn's own aggregation timings, no peers, one-line errors.

Tiny graphs only: these tests check what is printed and refused, never a
timing (benchmarks live in ``bench/``).
"""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgnn
from fastgnn.cli import build_parser, main
from fastgnn.cli import bench as cli_bench

TINY = ["--nodes", "300", "--edges", "3000", "--repeat", "1", "--warmup", "0"]


def _run_child(*argv, timeout=120):
    """``python -m fastgnn *argv`` with torch and PyG made unimportable, as in an install without peers."""
    code = ("import sys; sys.modules['torch'] = None; sys.modules['torch_geometric'] = None; "
            "from fastgnn.cli import main; sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_help_says_what_is_timed_and_how_long():
    result = _run_child("bench", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for needle in ("sum, mean, max and min", "1 and all threads", "well under a minute", "--size",
                   "--nodes", "--edges", "bench/run.py", "STREAM triad", "--no-machine"):
        assert needle in text, needle


def test_bench_train_is_gone():
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["bench-train"])
    assert raised.value.code == 2
    subcommands = build_parser()._subparsers._group_actions[0].choices
    assert set(subcommands) == {"bench", "train", "partition"}


def test_prints_every_reduce_and_pass_without_peers(tmp_path):
    out = tmp_path / "records.jsonl"
    result = _run_child("bench", *TINY, "--threads", "1,2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "roughly" in text.splitlines()[1]        # the expected duration, before the timings
    for graph in cli_bench.GRAPHS:
        assert f"{graph}: 300 nodes, 3,000 edges, d=64" in text
    for reduce in cli_bench.REDUCES:
        for label in ("fwd", "fwd+bwd"):
            lines = [line for line in text.splitlines() if line.split()[:2] == [reduce, label]]
            assert len(lines) == len(cli_bench.GRAPHS), (reduce, label)
    for needle in ("t=1 ms", "t=2 ms", "GB/s", "speed-up", "peak MiB", "STREAM triad", "at 2 threads",
                   "3 arrays x 8 bytes per element", "floor column"):
        assert needle in text, needle
    for label in ("fwd", "fwd+bwd"):   # the floor's own lines, one per graph, before the kernels'
        lines = [line for line in text.splitlines() if line.split()[:2] == ["floor", label]]
        assert len(lines) == len(cli_bench.GRAPHS) and lines[0].count("100%") == 2, lines
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == len(cli_bench.GRAPHS) * len(cli_bench.REDUCES) * len(cli_bench.PASSES) * 2
    assert all(rec["median_ms"] > 0 and rec["gbytes_per_s"] > 0 and rec["peak_bytes"] > 0 for rec in records)
    assert all(rec["fraction_of_floor"] == pytest.approx(rec["floor_ms"] / rec["median_ms"])
               and rec["triad_gbytes_per_s"] > 0 for rec in records)


def test_run_in_process_returns_records(capsys):
    argv = ["bench", *TINY, "--graphs", "powerlaw", "--reduces", "max", "--dims", "8,16", "--threads", "1",
            "--no-memory", "--no-machine"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "d=8" in text and "d=16" in text and "speed-up" not in text
    assert "STREAM triad" not in text and "floor" not in text
    records = cli_bench.run(graphs=["powerlaw"], num_nodes=300, num_edges=3000, dims=[8, 16], threads=[1],
                            reduces=["max"], repeat=1, warmup=0, memory=False, file=io.StringIO(), machine=False)
    assert {(r["d"], r["pass"]) for r in records} == {(8, "forward"), (16, "forward"), (8, "forward_backward"),
                                                      (16, "forward_backward")}
    assert all("peak_bytes" not in r and "floor_ms" not in r for r in records)


@pytest.mark.parametrize("argv, needle", [
    (["--nodes", "0"], "--nodes"),
    (["--edges", "x"], "--edges"),
    (["--reduces", "sum,prod"], "'prod'"),
    (["--graphs", "grid"], "'grid'"),
    (["--threads", "0"], "--threads"),
    (["--repeat", "0"], "--repeat"),
    (["--size", "huge"], "--size"),
])
def test_bad_option_is_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as raised:
        main(["bench", *argv])
    assert raised.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines


def test_too_many_threads_and_too_big_graphs_are_refused_before_any_work(capsys, tmp_path):
    too_many = fastgnn._runtime.threads.max_num_threads() + 1
    assert main(["bench", *TINY, "--threads", str(too_many)]) == 2
    assert main(["bench", "--nodes", str(10**12), "--edges", str(10**13)]) == 2
    assert main(["bench", *TINY, "--json", str(tmp_path / "missing" / "out.jsonl")]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("fastgnn bench: error: ") for line in lines), lines
    assert "--threads" in lines[0] and "GiB" in lines[1] and "--json" in lines[2]
    assert captured.out == ""


def test_bytes_moved_counts_indices_rows_and_output():
    edge_index = np.array([[0, 1, 2, 2], [1, 2, 0, 1]])
    graph = fastgnn.Graph.from_edge_index(edge_index, num_nodes=3)
    idx = graph.index_dtype.itemsize
    d = 8
    forward = idx * (3 + 1 + 4) + 4 * d * 4 + 3 * d * 4
    assert cli_bench.bytes_moved(graph, d, "sum", "forward") == forward
    assert cli_bench.bytes_moved(graph, d, "max", "forward") == forward + 3 * d * idx
    assert cli_bench.bytes_moved(graph, d, "mean", "forward_backward") == 2 * forward + 3 * 4


def test_plot_draws_the_speed_ups_as_bars(tmp_path, capsys):
    # --no-machine: the speed-up of 2 threads over 1 (the floor's triad would take 768 MiB).
    pytest.importorskip("matplotlib")
    from fastgnn._runtime.threads import max_num_threads

    if max_num_threads() < 2:
        pytest.skip("needs two threads")
    path = tmp_path / "bench.png"
    assert main(["bench", *TINY, "--reduces", "sum,max", "--no-memory", "--no-machine", "--threads", "1,2",
                 "--plot", str(path)]) == 0
    assert f"bar chart drawn to {path}" in capsys.readouterr().out
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 3000


def test_ratio_records_without_the_machine_are_speed_ups():
    records = [{"graph": "uniform", "d": 64, "reduce": "sum", "pass": "forward", "threads": t, "median_ms": ms}
               for t, ms in ((1, 4.0), (2, 2.5))]
    table, ylabel = cli_bench.ratio_records(records)
    assert table == {"uniform d=64 sum fwd": {"2 threads vs 1": 1.6}}      # one group: named by every key
    assert ylabel == "speed-up"


@pytest.mark.parametrize("argv, needle", [
    (["--plot", "bench.jpg"], ".png or .svg"),
    (["--no-machine", "--threads", "1", "--plot", "bench.png"], "two --threads"),
])
def test_plot_is_checked_before_any_timing(capsys, argv, needle):
    assert main(["bench", *TINY, *argv]) == 2
    captured = capsys.readouterr()
    assert needle in captured.err and len(captured.err.strip().splitlines()) == 1 and captured.out == ""
