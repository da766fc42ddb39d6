"""Progress of a training run: a live line on a terminal, plain lines when piped, or nothing."""
import sys
import time

__all__ = ["Progress", "PROGRESS_MODES", "as_progress"]

#: ``"auto"`` picks ``"live"`` on a terminal and ``"lines"`` otherwise.
PROGRESS_MODES = ("auto", "live", "lines", "quiet")


def _format_metrics(metrics):
    parts = []
    for name, value in metrics.items():
        if isinstance(value, float):
            parts.append(f"{name} {value:.4f}")
        elif value is not None:
            parts.append(f"{name} {value}")
    return "  ".join(parts)


class Progress:
    """Reports each epoch of a training run.

    Parameters
    ----------
    epochs : int
        The most epochs the run may take (shown as ``epoch 12/200``).
    mode : {'auto', 'live', 'lines', 'quiet'}
        ``'live'`` rewrites one line in place (a terminal), ``'lines'``
        prints a line every ``every`` epochs (logs, pipes, notebooks),
        ``'quiet'`` prints nothing; ``'auto'`` is ``'live'`` when ``stream``
        is a terminal, else ``'lines'``.
    every : int
        Print every this many epochs in ``'lines'`` mode (and the first).
    prefix : str
        Put before every line (e.g. ``"fold 3/10  "``).
    stream : file-like, optional
        Default ``sys.stdout``.
    log : callable, optional
        Receives each line instead of ``stream`` (forces ``'lines'``).
    """

    def __init__(self, epochs, mode="auto", *, every=1, prefix="", stream=None, log=None):
        if mode not in PROGRESS_MODES:
            raise ValueError(f"progress must be one of {PROGRESS_MODES}, got {mode!r}")
        self.epochs = int(epochs)
        self.every = max(1, int(every))
        self.prefix = prefix
        self.stream = sys.stdout if stream is None else stream
        self.log = log
        if log is not None and mode != "quiet":
            mode = "lines"
        elif mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "live" if isatty is not None and isatty() else "lines"
        self.mode = mode
        self._live_width = 0
        self._start = time.perf_counter()

    @property
    def quiet(self):
        return self.mode == "quiet"

    def _emit(self, line):
        if self.log is not None:
            self.log(line)
        else:
            print(line, file=self.stream, flush=True)

    def epoch(self, epoch, metrics, seconds):
        """Report epoch ``epoch`` (1-based): its metrics and its training time in seconds."""
        if self.mode == "quiet":
            return
        width = len(str(self.epochs))
        line = (f"{self.prefix}epoch {epoch:{width}d}/{self.epochs}  {_format_metrics(metrics)}  "
                f"{1000 * seconds:.1f} ms")
        if self.mode == "live":
            padded = line.ljust(self._live_width)
            self._live_width = len(line)
            self.stream.write("\r" + padded)
            self.stream.flush()
        elif epoch == 1 or epoch % self.every == 0 or epoch == self.epochs:
            self._emit(line)

    def message(self, text):
        """A line of its own (e.g. "early stopping at epoch 57")."""
        if self.mode == "quiet":
            return
        self._end_live_line()
        self._emit(f"{self.prefix}{text}")

    def close(self):
        """End the live line, if any."""
        self._end_live_line()

    def _end_live_line(self):
        if self.mode == "live" and self._live_width:
            self.stream.write("\n")
            self.stream.flush()
            self._live_width = 0


def as_progress(progress, epochs, *, log_every=1, prefix="", log=None):
    """The :class:`Progress` a training function was asked for.

    ``progress`` is a :class:`Progress` (used as it is), a mode of
    :data:`PROGRESS_MODES`, True (``'auto'``), or None / False (quiet unless
    ``log`` is given, which then receives plain lines).
    """
    if isinstance(progress, Progress):
        return progress
    if progress is None or progress is False:
        mode = "lines" if log is not None else "quiet"
    elif progress is True:
        mode = "auto"
    else:
        mode = progress
    return Progress(epochs, mode, every=log_every, prefix=prefix, log=log)
