"""Cross-validation folds in worker processes: the same results for any thread count, errors, progress, Ctrl-C."""
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastgnn
from fastgnn.datasets import tu_like_dataset
from fastgnn.models import GraphClassifierFactory, build_graph_classifier
from fastgnn.train import WorkerError, cross_validate_graph_classifier
from fastgnn.train.processes import run_in_processes

# the folder this run imports fastgnn from (a checkout's src/, or site-packages), for the child processes
SRC = os.path.dirname(os.path.dirname(os.path.abspath(fastgnn.__file__)))
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, sends signals")
HISTORY = ("train_loss", "train_acc", "test_acc", "test_loss", "lr")


def small_dataset(seed=1):
    return tu_like_dataset(48, mean_nodes=9, std_nodes=6, min_nodes=2, max_nodes=40, rng=seed)


def cross_validate(make_model, threads, **options):
    settings = dict(num_folds=3, epochs=3, batch_size=8, rng=5)
    settings.update(options)
    return cross_validate_graph_classifier(make_model, small_dataset(), n_threads=threads, **settings)


def timed(function, seconds=120):
    """``function()``'s result or exception, failing the test instead of hanging when it takes too long."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (a hang)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# ---------------------------------------------------------------------------- model factories a worker can import
class FailingFactory:
    """Builds the model, except for the ``fail_on``-th call in a process, which raises (or kills the process)."""

    def __init__(self, how):
        self.how = how
        self.make = GraphClassifierFactory("gin", 3, 2, hidden_channels=8, num_layers=3)

    def __call__(self, rng):
        if self.how == "value":
            raise ValueError("no model for this fold")
        if self.how == "unpicklable":
            raise UnpicklableError(threading.Lock())
        if self.how == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        return self.make(rng)


class UnpicklableError(Exception):
    def __init__(self, lock):
        super().__init__("holds a lock")
        self.lock = lock


def make_small_gin(rng):
    return build_graph_classifier("gin", 3, 2, hidden_channels=8, num_layers=3, dropout=0.5, rng=rng)


# ---------------------------------------------------------------------------- determinism
def test_results_are_identical_for_1_2_and_3_threads():
    results = {threads: timed(lambda threads=threads: cross_validate(make_small_gin, threads))
               for threads in (1, 2, 3)}
    assert [results[t].processes for t in (1, 2, 3)] == [1, 2, 3]
    reference = results[1]
    for threads in (2, 3):
        result = results[threads]
        np.testing.assert_array_equal(result.test_acc, reference.test_acc)
        assert result.best_epoch == reference.best_epoch
        for fold, (ours, theirs) in enumerate(zip(result.fold_results, reference.fold_results)):
            for name in HISTORY:
                assert ours.history[name] == theirs.history[name], (threads, fold, name)
            assert ours.metrics == theirs.metrics
        assert [list(map(list, f)) for f in result.folds] == [list(map(list, f)) for f in reference.folds]


def test_more_threads_than_folds_starts_one_worker_per_fold():
    result = timed(lambda: cross_validate(make_small_gin, 3, num_folds=2, epochs=1))
    assert result.processes == 2 and result.test_acc.shape == (2, 1)


def test_a_lambda_runs_the_folds_in_this_process_with_a_warning():
    factory = GraphClassifierFactory("gin", 3, 2, hidden_channels=8, num_layers=3)
    with pytest.warns(RuntimeWarning, match="cannot be sent to a worker process"):
        result = cross_validate(lambda rng: factory(rng), 2, epochs=2)
    assert result.processes == 1
    np.testing.assert_array_equal(result.test_acc, cross_validate(factory, 1, epochs=2).test_acc)


def test_what_a_fresh_interpreter_cannot_import_stays_in_this_process(monkeypatch):
    from fastgnn.train.processes import can_start_workers, is_picklable

    assert is_picklable(make_small_gin) and is_picklable(GraphClassifierFactory("gin", 3, 2))
    assert not is_picklable(lambda rng: None)
    main = type(sys)("__main__")                      # python -c, stdin, a notebook: no file to import
    main.make_small_gin = make_small_gin
    make_small_gin.__module__ = "__main__"
    monkeypatch.setitem(sys.modules, "__main__", main)
    try:
        assert not is_picklable(make_small_gin)
        assert can_start_workers()
        main.__file__ = "<stdin>"                     # python - < script: workers could not even start
        assert not is_picklable(make_small_gin) and not can_start_workers()
        with pytest.warns(RuntimeWarning, match="cannot start from this program"):
            assert cross_validate(GraphClassifierFactory("gin", 3, 2, hidden_channels=8), 2, epochs=1).processes == 1
        main.__file__ = __file__
        assert is_picklable(make_small_gin) and can_start_workers()
    finally:
        make_small_gin.__module__ = __name__


def test_progress_lines_of_every_fold_reach_the_parent():
    lines = []
    timed(lambda: cross_validate(make_small_gin, 2, epochs=2, log=lines.append))
    for fold in (1, 2, 3):
        assert sum(line.startswith(f"fold  {fold}/3  epoch ") for line in lines) == 2, lines
        assert sum(line.startswith(f"fold  {fold}/3 done") for line in lines) == 1, lines
    quiet = timed(lambda: cross_validate(make_small_gin, 2, epochs=1))
    assert quiet.processes == 2


# ---------------------------------------------------------------------------- errors
def test_an_exception_in_a_worker_is_raised_in_the_parent():
    with pytest.raises(ValueError, match="no model for this fold") as caught:
        timed(lambda: cross_validate(FailingFactory("value"), 2))
    assert any("raised in a worker process, fold" in note for note in getattr(caught.value, "__notes__", []))
    assert "Traceback" in str(caught.value.__cause__) and "test_graph_parallel.py" in str(caught.value.__cause__)


def test_an_unpicklable_exception_becomes_a_worker_error():
    with pytest.raises(WorkerError, match=r"fold \d/3 failed in a worker process: UnpicklableError: holds a lock"):
        timed(lambda: cross_validate(FailingFactory("unpicklable"), 2))


def test_a_killed_worker_is_reported_not_awaited():
    with pytest.raises(WorkerError, match=r"killed by signal SIGKILL while running fold \d/3"):
        timed(lambda: cross_validate(FailingFactory("killed"), 2), seconds=60)


def _echo(shared, task, report):
    report(("seen", task))
    return shared + task


def test_run_in_processes_returns_results_in_task_order():
    events = []
    results = timed(lambda: run_in_processes(_echo, 100, list(range(7)), 2,
                                             on_event=lambda i, e: events.append((i, e))))
    assert results == [100 + i for i in range(7)]
    assert sorted(events) == [(i, ("seen", i)) for i in range(7)]
    assert run_in_processes(_echo, 0, [], 2) == []


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "parent-killed"])
def test_the_workers_stop_with_the_parent(tmp_path, signal_number):
    """SIGINT to the parent: KeyboardInterrupt there; SIGKILL: the workers notice. No worker is left running."""
    script = tmp_path / "cv.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from fastgnn.datasets import tu_like_dataset
        from fastgnn.models import GraphClassifierFactory
        from fastgnn.train import cross_validate_graph_classifier

        if __name__ == "__main__":
            graphs = tu_like_dataset(200, mean_nodes=20, std_nodes=5, rng=0)
            cross_validate_graph_classifier(GraphClassifierFactory("gin", 3, 2), graphs, num_folds=4, epochs=10000,
                                            n_threads=2, log=lambda line: print(line, flush=True))
    """))
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    try:
        for line in process.stdout:
            if " epoch " in line:
                break
        workers = _children(process.pid)       # the two workers and multiprocessing's resource tracker
        assert len(workers) >= 2, workers
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    if signal_number == signal.SIGINT:
        assert "KeyboardInterrupt" in stderr, stderr[-2000:]
        assert "fastgnn-worker" not in stderr, stderr[-2000:]     # no traceback from a worker
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") and _state(pid) != "Z" for pid in workers):
        assert time.monotonic() < deadline, f"child processes {workers} still running"
        time.sleep(0.1)


def _children(pid):
    """The processes whose parent is ``pid`` (Linux /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_graph_classifier_factory_pickles_and_builds_the_same_model():
    factory = GraphClassifierFactory("gin", 3, 2, hidden_channels=8)
    copy = pickle.loads(pickle.dumps(factory))
    first, second = factory(np.random.default_rng(3)), copy(np.random.default_rng(3))
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert "hidden_channels=8" in repr(factory)
    with pytest.raises(TypeError, match="rng"):
        GraphClassifierFactory("gin", 3, 2, rng=0)
    with pytest.raises(ValueError, match="model must be one of"):
        GraphClassifierFactory("nope", 3, 2)
