"""``fastgnn train --plot PATH --history PATH.csv``: the per-epoch numbers of every run, drawn and written.

Both are checked before training (matplotlib importable, a ``.png`` or
``.svg`` name, files writable), so a long run does not fail at its end.
"""
import csv
import io
import os

from fastgnn.cli._common import CommandError, add_option, check_writable, write_atomically

__all__ = ["add_arguments", "check", "write", "estimate_line"]


def add_arguments(parser):
    """Declare ``--plot`` and ``--history`` (every task has them)."""
    add_option(parser, "--plot", metavar="PATH", default=None,
               help="draw the loss and accuracy curves (link task: AUC and AP; graph task: one line per fold) "
                    "of every run to PATH, .png or .svg (needs matplotlib: pip install matplotlib)")
    add_option(parser, "--history", metavar="PATH", default=None,
               help="write the per-epoch numbers to PATH as CSV: one row per epoch per run (graph task: per "
                    "fold), columns run, epoch and every metric, evaluation metrics on their epoch")


def check(plot, history):
    """CommandError now, before any training, if ``--plot`` or ``--history`` (None: not given) could not be written."""
    if plot is not None:
        if os.path.splitext(plot)[1].lower() not in (".png", ".svg"):
            raise CommandError(f"--plot {plot}: give a file name ending in .png or .svg")
        from fastgnn.plotting import require_matplotlib

        try:
            require_matplotlib("--plot")
        except ImportError as error:
            raise CommandError(str(error)) from None
        check_writable(plot, "--plot")
    if history is not None:
        check_writable(history, "--history")
    if plot is not None and history is not None and os.path.abspath(plot) == os.path.abspath(history):
        raise CommandError(f"--plot and --history both name {plot}")


def write(results, plot, history, say, label="run"):
    """Write ``--history`` and draw ``--plot`` (None: not asked) from ``results``, the runs' or folds' TrainResults."""
    from fastgnn.plotting import history_table, plot_history

    if history is not None:
        columns, rows = history_table(results, label=label)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if value is None else value for value in row] for row in rows)
        write_atomically(history, lambda handle: handle.write(text.getvalue().encode()), "--history")
        say(f"history ({len(rows)} rows) written to {history}")
    if plot is not None:
        try:
            plot_history(results, plot, label=label)
        except (ValueError, OSError) as error:
            raise CommandError(f"--plot {plot}: {error}") from None
        say(f"curves drawn to {plot}")


def estimate_line(seconds, done, total, what="run"):
    """``"about 30 s for the other 9 runs"``: the rest of a repeated job, from the ``seconds`` its first ``done`` took."""
    left = total - done
    rest = seconds / done * left
    shown = f"{rest / 60:.0f} min" if rest >= 120 else f"{rest:.0f} s" if rest >= 10 else f"{rest:.1f} s"
    return f"about {shown} for the last {what}" if left == 1 else f"about {shown} for the other {left} {what}s"
