"""Pictures and tables of training histories and benchmark ratios (matplotlib, an optional dependency).

- :func:`history_table`: the per-epoch numbers of one or more training runs
  as rows, one per epoch per run, evaluation metrics aligned to their epoch
  (what ``fastgnn train --history PATH.csv`` writes);
- :func:`plot_history`: the loss and score curves of the runs, one panel per
  kind of metric (loss, accuracy, AUC and AP), one colour per run
  (``fastgnn train --plot PATH``);
- :func:`ratio_table` and :func:`plot_ratios`: a benchmark's ratios
  (e.g. peer time / fastgnn time) as grouped bars (``fastgnn bench --plot``,
  ``python bench/run.py training --plot``).

Nothing here imports the rest of fastgnn: a history is any mapping of
lists shaped as :attr:`fastgnn.train.TrainResult.history`. matplotlib is
imported inside the functions that draw, with the Agg backend (no display
needed); :func:`require_matplotlib` checks for it before a long run.
"""
import math
import os

__all__ = ["require_matplotlib", "history_table", "plot_history", "ratio_table", "plot_ratios"]

#: The keys of a history that index its rows rather than measure anything.
_INDEX_KEYS = ("epoch", "eval_epoch")

#: Panels of :func:`plot_history`: (title, suffixes of the metrics drawn in it).
_PANELS = (("loss", ("_loss",)), ("accuracy", ("_acc",)), ("AUC and AP", ("_auc", "_ap")))

_LINE_STYLES = ("-", "--", ":", "-.")


def require_matplotlib(option="--plot"):
    """Import matplotlib with the Agg backend, or ImportError saying what to install.

    Parameters
    ----------
    option : str
        What needs it, for the message (``"--plot needs matplotlib: pip
        install matplotlib"``).

    Returns
    -------
    module
        ``matplotlib.pyplot``.
    """
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"{option} needs matplotlib: pip install matplotlib "
                          "(or pip install \"fastgnn[plot]\")") from None
    matplotlib.use("Agg", force=True)   # files only, never a window
    import matplotlib.pyplot as pyplot

    return pyplot


def _history(result):
    """The history mapping of a TrainResult (or anything with ``.history``), or the mapping itself."""
    history = getattr(result, "history", result)
    if not hasattr(history, "get"):
        raise TypeError(f"expected a TrainResult or a history dict, got {type(result).__name__}")
    return history


def _per_epoch(history):
    """``{metric: {epoch: value}}`` of every metric of ``history``, evaluation metrics keyed by their epoch.

    A list as long as ``epoch`` is per epoch; one as long as ``eval_epoch``
    (and not as long as ``epoch``) belongs to the evaluations. A metric of
    neither length (reported by only some evaluations) is left out.
    """
    epochs = list(history.get("epoch", []))
    evals = list(history.get("eval_epoch", []))
    columns = {}
    for name, values in history.items():
        if name in _INDEX_KEYS:
            continue
        values = list(values)
        if len(values) == len(epochs):
            columns[name] = dict(zip(epochs, values))
        elif len(values) == len(evals):
            columns[name] = dict(zip(evals, values))
    return epochs, columns


def history_table(results, label="run"):
    """The per-epoch numbers of ``results`` as rows: one per epoch per run.

    Parameters
    ----------
    results : TrainResult, dict, or sequence of them
        Runs (or folds) with a ``history`` as :class:`fastgnn.train.TrainResult`
        keeps it: ``epoch`` and the training step's metrics per epoch,
        ``eval_epoch`` and the evaluation's metrics per evaluation.
    label : str
        Name of the first column, numbering the runs from 1 (``"fold"`` for
        a cross-validation).

    Returns
    -------
    columns : list of str
        ``[label, "epoch", metric, ...]``: every metric of any run, in the
        order first seen.
    rows : list of list
        One per (run, epoch); a metric not measured at that epoch (an
        epoch without evaluation) is None.
    """
    runs = _as_runs(results)
    columns, tables = [label, "epoch"], []
    for result in runs:
        epochs, metrics = _per_epoch(_history(result))
        columns.extend(name for name in metrics if name not in columns)
        tables.append((epochs, metrics))
    rows = []
    for number, (epochs, metrics) in enumerate(tables, start=1):
        for epoch in epochs:
            rows.append([number, epoch] + [metrics.get(name, {}).get(epoch) for name in columns[2:]])
    return columns, rows


def _as_runs(results):
    if hasattr(results, "history") or hasattr(results, "get"):
        return [results]
    return list(results)


def _panel_metrics(histories):
    """``[(title, [metric, ...])]`` for the panels that have a metric in some history."""
    names = []
    for history in histories:
        names.extend(name for name in history if name not in names and name not in _INDEX_KEYS)
    panels = []
    for title, suffixes in _PANELS:
        chosen = [name for name in names if name.endswith(suffixes)]
        if chosen:
            panels.append((title, chosen))
    return panels


def _save(figure, path, pyplot):
    """Write ``figure`` to ``path`` (format from its suffix: .png or .svg) and close it."""
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix not in (".png", ".svg"):
        pyplot.close(figure)
        raise ValueError(f"path must end in .png or .svg, got {str(path)!r}")
    try:
        figure.savefig(path, format=suffix[1:], dpi=100, bbox_inches="tight")
    finally:
        pyplot.close(figure)


def plot_history(results, path, *, label="run", title=None):
    """Draw the loss and score curves of one or more training runs to ``path`` (PNG or SVG).

    Parameters
    ----------
    results : TrainResult, dict, or sequence of them
        Runs (or folds), each with a ``history`` as
        :class:`fastgnn.train.TrainResult` keeps it.
    path : str or os.PathLike
        Ends in ``.png`` or ``.svg``.
    label : str
        What a run is called in the legend (``"run"``, ``"fold"``).
    title : str, optional
        Above the panels.

    Notes
    -----
    One panel per kind of metric present: loss (``*_loss``), accuracy
    (``*_acc``), AUC and AP (``*_auc``, ``*_ap``), against the epoch.
    Each run has one colour; each metric of a panel one line style
    (``train_loss`` solid, ``val_loss`` dashed, ...). Evaluation metrics are
    drawn at the epochs they were measured.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        ``path`` has another suffix, or no run has a loss or score to draw.
    """
    pyplot = require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    histories = [_history(result) for result in _as_runs(results)]
    panels = _panel_metrics(histories)
    if not panels:
        raise ValueError("nothing to plot: the histories have no loss, accuracy, AUC or AP")
    figure, axes = pyplot.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.6), squeeze=False)
    colours = pyplot.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    many = len(histories) > 1
    for axis, (panel, names) in zip(axes[0], panels):
        styles = {name: _LINE_STYLES[i % len(_LINE_STYLES)] for i, name in enumerate(names)}
        for number, history in enumerate(histories, start=1):
            _, metrics = _per_epoch(history)
            for name in names:
                points = sorted(metrics.get(name, {}).items())
                points = [(epoch, value) for epoch, value in points if value is not None and math.isfinite(value)]
                if not points:
                    continue
                epochs, values = zip(*points)
                axis.plot(epochs, values, styles[name], color=colours[(number - 1) % len(colours)], linewidth=1.2,
                          marker="." if len(points) < 3 else None)
        # Two legends' worth of meaning in one: line styles name the metrics, colours the runs.
        handles = [pyplot.Line2D([], [], color="black", linestyle=styles[name], label=name) for name in names]
        if many and len(histories) <= 10:
            handles += [pyplot.Line2D([], [], color=colours[(n - 1) % len(colours)], label=f"{label} {n}")
                        for n in range(1, len(histories) + 1)]
        axis.legend(handles=handles, fontsize="small")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(panel)
        axis.grid(True, alpha=0.3)
    if title or (many and len(histories) > 10):
        figure.suptitle(title or f"{len(histories)} {label}s (one colour each)")
    figure.tight_layout()
    _save(figure, path, pyplot)


def ratio_table(records, *, value="ratio", series=("peer", "impl"), groups=None, exclude=("fastgnn",)):
    """A benchmark's records as the table of :func:`plot_ratios`: ``{group: {series: ratio}}``.

    Parameters
    ----------
    records : iterable of dict
        One per measurement (the JSON lines of ``bench/run.py`` or
        ``fastgnn bench``); those without ``value`` are left out.
    value : str
        The key of the ratio (``"ratio"``: peer time / fastgnn time;
        ``"fraction_of_floor"`` in ``fastgnn bench``).
    series : str or tuple of str
        The key naming a record's bar within its group: the first of these
        keys present (``peer`` or ``impl``, the implementation).
    groups : tuple of str, optional
        The keys whose values name a group, joined by spaces, those constant
        over the records left out (default: ``task``, ``graph``, ``model``,
        ``what``, ``d``, ``threads``, ``reduce``, ``pass``).
    exclude : tuple of str
        Series left out (the baseline, whose ratio is 1).

    Returns
    -------
    dict of str to dict of str to float
        Groups and series in the order first seen.
    """
    series = (series,) if isinstance(series, str) else tuple(series)
    kept = [rec for rec in records if rec.get(value) is not None]
    candidates = ("task", "graph", "model", "what", "d", "threads", "reduce", "pass") if groups is None else groups
    groups = [key for key in candidates if len({str(rec.get(key)) for rec in kept if key in rec}) > 1]
    if not groups:     # one group: name it by whatever keys there are
        groups = [key for key in candidates if any(key in rec for rec in kept)]
    table = {}
    for rec in kept:
        name = next((str(rec[key]) for key in series if key in rec), None)
        if name is None or name in exclude:
            continue
        group = " ".join(_group_text(key, rec[key]) for key in groups if key in rec)
        table.setdefault(group, {})[name] = float(rec[value])
    return table


def _group_text(key, value):
    if key == "d":
        return f"d={value}"
    if key == "threads":
        return f"t={value}"
    if key == "pass":
        return {"forward": "fwd", "forward_backward": "fwd+bwd"}.get(value, str(value))
    return str(value)


def plot_ratios(table, path, *, title=None, ylabel="time / fastgnn's time", reference=1.0, log=None):
    """Draw a table of ratios as grouped bars to ``path`` (PNG or SVG).

    Parameters
    ----------
    table : mapping of str to mapping of str to float
        ``{group: {series: ratio}}`` (e.g. ``{"cora gcn": {"pyg": 3.1,
        "dgl": 2.4}}``), as :func:`ratio_table` builds it from records.
        Groups are drawn left to right, one bar per series, one colour per
        series across the groups.
    path : str or os.PathLike
        Ends in ``.png`` or ``.svg``.
    title, ylabel : str, optional
    reference : float or None
        A horizontal line at this ratio (1: as fast as the baseline).
    log : bool, optional
        Logarithmic y axis (default: when the ratios span more than 20x).

    Raises
    ------
    ImportError
        matplotlib is not installed.
    ValueError
        ``path`` has another suffix, or the table has no finite positive ratio.
    """
    pyplot = require_matplotlib()
    groups = list(table)
    names = []
    for group in groups:
        names.extend(name for name in table[group] if name not in names)
    values = [v for group in groups for v in table[group].values()
              if v is not None and math.isfinite(v) and v > 0]
    if not values:
        raise ValueError("nothing to plot: the table has no finite positive ratio")
    if log is None:
        log = max(values) / min(values) > 20
    width = 0.8 / max(1, len(names))
    figure, axis = pyplot.subplots(figsize=(max(5.0, 0.5 + 0.35 * len(groups) * max(1, len(names))), 4.0))
    for index, name in enumerate(names):
        xs = [g + (index - (len(names) - 1) / 2) * width for g in range(len(groups))
              if _drawable(table[groups[g]].get(name))]
        ys = [table[group][name] for group in groups if _drawable(table[group].get(name))]
        axis.bar(xs, ys, width, label=name)
    if reference is not None:
        axis.axhline(reference, color="black", linewidth=0.8)
    if log:
        axis.set_yscale("log")
    axis.set_xticks(range(len(groups)))
    axis.set_xticklabels(groups, rotation=30 if len(groups) > 3 else 0, ha="right" if len(groups) > 3 else "center",
                         fontsize="small")
    axis.set_ylabel(ylabel)
    if title:
        axis.set_title(title)
    axis.legend(fontsize="small")
    axis.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    _save(figure, path, pyplot)


def _drawable(value):
    return value is not None and math.isfinite(value) and value > 0
