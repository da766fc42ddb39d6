"""``fastgnn train``: an option of another task is an error naming the tasks; parse errors are one line."""
import pytest

from fastgnn.cli import main


def parse_error(capsys, *argv):
    """Exit status 2 at parsing, and the one line on stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *map(str, argv)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize("task, argv, flag, owners", [
    ("node", ["--pool", "sum"], "--pool", "--task graph"),
    ("node", ["--folds", "3"], "--folds", "--task graph"),
    ("node", ["--loss", "full"], "--loss", "--task link"),
    ("node", ["--lr-step", "10"], "--lr-step", "--task graph"),
    ("link", ["--pool", "mean"], "--pool", "--task graph"),
    ("link", ["--fanout", "5,5"], "--fanout", "--task node"),
    ("link", ["--layers", "3"], "--layers", "--task node and --task graph"),
    ("link", ["--no-normalize-features"], "--no-normalize-features", "--task node"),
    ("link", ["--load", "weights.npz"], "--load", "--task node"),
    ("graph", ["--latent", "8"], "--latent", "--task link"),
    ("graph", ["--inductive"], "--inductive", "--task node"),
    ("graph", ["--save", "weights.npz"], "--save", "--task node and --task link"),
    ("graph", ["--val-fraction", "0.1"], "--val-fraction", "--task link"),
])
def test_an_option_of_another_task_is_an_error_naming_the_task(capsys, task, argv, flag, owners):
    argv = (["--task", task] if task != "node" else []) + argv + ["--epochs", "1"]
    line = parse_error(capsys, *argv)
    assert line == (f"fastgnn train: error: {flag} does not apply to --task {task}; it is an option of {owners} "
                    "(see fastgnn train --help)")


def test_the_task_may_come_after_the_option(capsys):
    line = parse_error(capsys, "--pool", "sum", "--task", "link")
    assert "--pool does not apply to --task link" in line


def test_an_abbreviated_option_is_named_in_full(capsys):
    line = parse_error(capsys, "--task", "link", "--fan", "5")
    assert "--fanout does not apply to --task link" in line


@pytest.mark.parametrize("argv", [
    ["--task", "link", "--hidden", "8", "--dropout", "0.1", "--threads", "1", "--plot", "x.png"],
    ["--task", "graph", "--dense-features", "--batch-size", "4", "--history", "h.csv"],
    ["--fanout", "5,5", "--batch-size", "4", "--heads", "2", "--json"],
])
def test_options_of_the_chosen_task_parse(argv):
    from fastgnn.cli.main import build_parser

    args = build_parser().parse_args(["train", *argv])
    assert args.func is not None


def test_an_unparsable_value_is_one_line_with_a_hint(capsys):
    line = parse_error(capsys, "--hidden", "abc")
    assert line == ("fastgnn train: error: argument --hidden: must be an int or comma-separated ints, got 'abc' "
                    "(see fastgnn train --help)")


def test_an_unknown_option_is_one_line(capsys):
    line = parse_error(capsys, "--hiden", "16")
    assert line.startswith("fastgnn") and "--hiden" in line and line.endswith("--help)")
