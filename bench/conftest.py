"""pytest-benchmark suites of fastgnn's aggregation and its peers.

Not part of the default test run (``testpaths = ["tests"]``); run them with::

    pytest bench/test_aggregate.py                 # d=64, every graph, 1 and 2 threads
    pytest bench/test_aggregate.py --bench-full    # d in 16, 64, 256
    pytest bench/test_aggregate.py --bench-graphs small --bench-dims 16,64 --bench-threads 2 \\
                 --bench-reduces sum,max --bench-impls fastgnn,torch
    pytest bench/test_aggregate.py --benchmark-columns=median,rounds \\
                 --benchmark-group-by=func,param:graph,param:d,param:threads,param:reduce

Each benchmark's group is ``"<pass> <graph> d=<d> t=<threads> <reduce>"``, so
the default grouping already puts fastgnn and its peers side by side; any
``--benchmark-group-by=param:...`` over ``graph``, ``d``, ``threads``,
``reduce`` and ``impl`` regroups them (name the file: other suites in
``bench/`` have no such parameters). Nothing here asserts a timing.

The graphs, the peers' code and the bytes/memory accounting are those of
``bench/aggregation.py`` (``python bench/run.py aggregation``, which also
prints the ratio tables); torch and PyG are skipped when not installed; DGL
runs in its own environment (``bench/dgl_peer.py``).

The modules of ``bench/`` import each other as top-level modules
(``import aggregation``, ``from graphs import ...``): pytest puts this folder
on ``sys.path`` (its default "prepend" import mode, as for ``tests/``), and
``python bench/run.py`` runs from it. Test files here are named
``test_bench_*.py`` when ``tests/`` has a file of the same basename.
"""
import pytest

import aggregation as B


def _csv(text, kind=str):
    return [kind(v.strip()) for v in text.split(",") if v.strip()]


def pytest_addoption(parser):
    group = parser.getgroup("fastgnn-bench", "fastgnn aggregation benchmarks (bench/)")
    group.addoption("--bench-graphs", default=",".join(B.GRAPHS),
                    help=f"comma-separated graphs (default {','.join(B.GRAPHS)})")
    group.addoption("--bench-dims", default=None,
                    help=f"comma-separated feature widths (default {','.join(map(str, B.DIMS))})")
    group.addoption("--bench-full", action="store_true",
                    help=f"feature widths {','.join(map(str, B.ALL_DIMS))}")
    group.addoption("--bench-threads", default=",".join(map(str, B.THREADS)),
                    help="comma-separated thread counts (default 1,2)")
    group.addoption("--bench-reduces", default=",".join(B.REDUCES),
                    help=f"comma-separated reductions (default {','.join(B.REDUCES)})")
    group.addoption("--bench-impls", default=",".join(B.IMPLEMENTATIONS),
                    help=f"comma-separated implementations (default {','.join(B.IMPLEMENTATIONS)})")
    group.addoption("--bench-repeat", type=int, default=5,
                    help="rounds per benchmark (slow peers get fewer, see aggregation.planned_repeats)")


def _selection(config):
    dims = config.getoption("--bench-dims")
    selection = {
        "graph": _csv(config.getoption("--bench-graphs")),
        "d": _csv(dims, int) if dims else list(B.ALL_DIMS if config.getoption("--bench-full") else B.DIMS),
        "threads": _csv(config.getoption("--bench-threads"), int),
        "reduce": _csv(config.getoption("--bench-reduces")),
        "impl": _csv(config.getoption("--bench-impls")),
    }
    for name, allowed in (("graph", B.GRAPHS), ("reduce", B.REDUCES), ("impl", B.IMPLEMENTATIONS)):
        unknown = [v for v in selection[name] if v not in allowed]
        if unknown:
            raise pytest.UsageError(f"--bench-{name}s: unknown {unknown}; choose from {', '.join(allowed)}")
    return selection


def pytest_generate_tests(metafunc):
    """Parametrise ``graph, d, threads, reduce, impl`` with the applicable combinations."""
    names = ("graph", "d", "threads", "reduce", "impl")
    if not all(name in metafunc.fixturenames for name in names):
        return
    sel = _selection(metafunc.config)
    cases = [(g, d, t, r, impl) for g in sel["graph"] for d in sel["d"] for t in sel["threads"]
             for r in sel["reduce"] for impl in sel["impl"] if B.applicable(impl, g, r)]
    metafunc.parametrize(",".join(names), cases,
                         ids=[f"{g}-d{d}-t{t}-{r}-{impl}" for g, d, t, r, impl in cases])


@pytest.fixture(scope="session")
def bench_repeat(pytestconfig):
    return max(1, pytestconfig.getoption("--bench-repeat"))


@pytest.fixture
def run_aggregate(benchmark, bench_repeat):
    """``run_aggregate(graph, d, threads, reduce, impl, pass_)``: benchmark one case."""

    def run(graph, d, threads, reduce, impl, pass_):
        if not B.peer_available(impl):
            pytest.skip(f"{impl} is not installed")
        workload = B.load_workload(graph)
        bench = B.make_benchmark(impl, workload, d, reduce, threads, pass_)
        if bench is None:
            pytest.skip(f"{impl} has no {reduce} aggregation on {graph}")
        benchmark.group = f"{pass_} {graph} d={d} t={threads} {reduce}"
        with B.peer_threads(threads) as in_force:
            last = B.warm_up(bench)  # also builds the peer's matrices, outside the timing
            benchmark.extra_info.update(
                impl=impl, threads_in_force=in_force, num_nodes=workload.num_nodes,
                num_edges=workload.num_edges, message_bytes=B.message_bytes(workload, d))
            benchmark.pedantic(bench.run, setup=bench.setup, rounds=B.planned_repeats(last, bench_repeat),
                               iterations=1, warmup_rounds=0)
        if impl == "fastgnn":
            moved = B.bytes_moved(workload.graph, d, reduce, pass_)
            benchmark.extra_info["bytes_moved"] = moved
            median = benchmark.stats.stats.median if benchmark.stats is not None else None
            if median:
                benchmark.extra_info["gbytes_per_s"] = moved / median / 1e9
            peak = B.fastgnn_peak_memory(workload, d, reduce, threads)
            benchmark.extra_info["peak_forward_bytes"] = peak["forward"]
            benchmark.extra_info["peak_backward_bytes"] = peak["backward"]
    return run
