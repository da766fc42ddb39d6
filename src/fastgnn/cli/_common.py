"""Private helpers shared by the commands of ``python -m fastgnn`` and the tasks of ``fastgnn train``.

Everything a user can get wrong (an option value, a file to read or write,
a model too large for the machine) is raised as :class:`CommandError`,
naming the option or file, and :func:`run_task` reports it as one line on
stderr with exit status 2.
"""
import argparse
import contextlib
import math
import os
import pickle
import struct
import sys
import tempfile
import tokenize
import zipfile
import zlib

__all__ = ["ArgumentParser", "CommandError", "add_option", "option", "run_task", "check_positive", "check_fraction",
           "check_learning_rate", "check_seed", "num_threads", "refuse_options", "check_writable",
           "write_atomically", "CheckedNpz", "available_memory", "training_bytes", "check_memory",
           "dataset_errors"]


_NOT_GIVEN = object()


class ArgumentParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` whose errors are one line, and whose options can belong to some tasks only.

    argparse adds the whole usage to an error, many lines; here an error is
    ``<prog>: error: <message> (see <prog> --help)``.

    Options declared inside ``with parser.options_of("task", "graph"):``
    belong to that value of the selector option (``--task graph``); an option
    that several tasks declare belongs to each. Giving an option explicitly
    with a selector value none of its declarers has is an error naming both
    (``--pool does not apply to --task node; it is an option of --task
    graph``), rather than an option silently ignored.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._declaring = None          # (selector dest, value) while options_of() runs
        self._owners = {}               # option dest -> (selector dest, [values])

    @contextlib.contextmanager
    def options_of(self, selector, value):
        """Options added (by :func:`add_option`) in the block belong to ``--<selector> <value>``."""
        previous, self._declaring = self._declaring, (selector, value)
        try:
            yield self
        finally:
            self._declaring = previous

    def declare(self, dest):
        """Record that the selector value being declared (see :meth:`options_of`) has option ``dest``."""
        if self._declaring is None:
            return
        selector, value = self._declaring
        owners = self._owners.setdefault(dest, (selector, []))[1]
        if value not in owners:
            owners.append(value)

    def parse_known_args(self, args=None, namespace=None):
        parsed, extras = super().parse_known_args(args, namespace)
        if self._owners:
            self._check_owners(parsed, self._given(args))
        return parsed, extras

    def _given(self, args):
        """The dests of the options given explicitly in ``args`` (parsed again over a namespace of sentinels)."""
        dests = {action.dest for action in self._actions if action.dest is not argparse.SUPPRESS}
        probe = argparse.Namespace(**{dest: _NOT_GIVEN for dest in dests})
        probe, _ = super().parse_known_args(args, probe)
        return {dest for dest in dests if getattr(probe, dest, _NOT_GIVEN) is not _NOT_GIVEN}

    def _check_owners(self, parsed, given):
        for action in self._actions:
            owner = self._owners.get(action.dest)
            if owner is None or action.dest not in given:
                continue
            selector, values = owner
            chosen = getattr(parsed, selector, None)
            if chosen not in values:
                flag, switch = _flag(action), "--" + selector.replace("_", "-")
                belongs = " and ".join(f"{switch} {value}" for value in values)
                self.error(f"{flag} does not apply to {switch} {chosen}; it is an option of {belongs}")

    def error(self, message):
        """Print ``<prog>: error: <message>`` on stderr and exit with status 2."""
        message = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _flag(action):
    """The long flag of ``action`` (``--no-normalize-features``)."""
    longs = [flag for flag in action.option_strings if flag.startswith("--")]
    return (longs or action.option_strings)[0]


class CommandError(ValueError):
    """Bad input to the command, reported as one line on stderr (exit status 2)."""



# Input features with at most this fraction of non-zeros are kept sparse (unless --dense-features).
SPARSE_DENSITY = 0.1

def add_option(parser, *flags, **kwargs):
    """Add an option unless the parser already has it (the train command shares options across tasks).

    Inside :meth:`ArgumentParser.options_of`, the option (new or already
    there) is recorded as one of the task being declared.
    """
    existing = next((parser._option_string_actions[flag] for flag in flags
                     if flag in parser._option_string_actions), None)
    action = existing if existing is not None else parser.add_argument(*flags, **kwargs)
    if isinstance(parser, ArgumentParser):
        parser.declare(action.dest)


def option(args, name, default):
    """``args.name``, or ``default`` when it is missing or None."""
    value = getattr(args, name, None)
    return default if value is None else value


def _one_line(error):
    """The message of ``error`` on one line (a KeyError's str() would add quotes)."""
    text = error.args[0] if isinstance(error, KeyError) and len(error.args) == 1 else str(error)
    return " ".join(str(text).split()) or type(error).__name__


def run_task(task, run, args, out, *, flush=False):
    """``run(args, out)`` with bad input reported as one line on stderr; returns the exit status (2 on bad input)."""
    out = sys.stdout if out is None else out
    try:
        return run(args, out)
    except MemoryError as error:
        # The estimate of check_memory is a lower bound; this is the fallback.
        message = f"out of memory: {_one_line(error)} (try a smaller --hidden, --layers or --batch-size)"
    except (ValueError, OSError, TypeError, OverflowError) as error:
        message = _one_line(error)
    print(f"fastgnn train --task {task}: error: {message}", file=sys.stderr, flush=flush)
    return 2


# ---------------------------------------------------------------------- option values
def check_positive(name, value):
    """``value`` as an int, or CommandError unless it is a positive integer (``name`` is the option)."""
    if int(value) < 1:
        raise CommandError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_fraction(name, value, *, low=0.0, high=1.0):
    """``value`` as a float in ``[low, high]``, else CommandError."""
    value = float(value)
    if not low <= value <= high:
        raise CommandError(f"{name} must be in [{low:g}, {high:g}], got {value}")
    return value


def check_learning_rate(value):
    """``--lr`` as a positive finite float, else CommandError."""
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise CommandError(f"--lr must be a positive number, got {value}")
    return value


def check_seed(value):
    """``--seed`` as a non-negative int (what NumPy's generators accept), else CommandError."""
    if int(value) < 0:
        raise CommandError(f"--seed must be a non-negative integer, got {value}")
    return int(value)


def refuse_options(args, task, names):
    """CommandError if any of the options ``names`` (attribute names) is given to a task that has no use for it.

    For options whose silent omission loses what the user asked for (weights
    not saved, weights not loaded).
    """
    for name in names:
        if getattr(args, name, None) is not None:
            flag = "--" + name.replace("_", "-")
            raise CommandError(f"{flag} is an option of the node task; --task {task} does not read or write weights")


@contextlib.contextmanager
def num_threads(threads):
    """Run the block with ``--threads`` threads (None: leave the setting), restoring the previous one.

    Yields the thread count in effect.
    """
    from fastgnn._runtime import threads as _threads

    if threads is None:
        yield _threads.get_num_threads()
        return
    threads = check_positive("--threads", threads)
    if threads > _threads.max_num_threads():
        raise CommandError(f"--threads {threads} is more than this machine can use "
                           f"(at most {_threads.max_num_threads()})")
    with _threads.num_threads(threads) as count:
        yield count


# ---------------------------------------------------------------------- files to write
def check_writable(path, option="--save"):
    """CommandError unless a file can be written at ``path``, checked before any work is done.

    The folder must exist and take a new file (tried with a temporary one,
    so a read-only file system or missing permission shows now, not after
    training); ``path`` must not be a directory.
    """
    where = f"{option} {path}"
    if os.path.isdir(path):
        raise CommandError(f"{where}: is a directory; give a file name, e.g. {os.path.join(path, 'model.npz')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise CommandError(f"{where}: the folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise CommandError(f"{where}: {folder} is not a directory")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise CommandError(f"{where}: the file is not writable")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".fastgnn-", suffix=".tmp"):
            pass
    except OSError as error:
        raise CommandError(f"{where}: cannot write in {folder}: {error.strerror or error}") from None


def _new_file_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path, write, option="--save"):
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``.

    A failure (disk full, say) leaves any previous file at ``path`` intact
    and no partial file behind.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        handle = tempfile.NamedTemporaryFile(dir=folder, prefix=".fastgnn-", suffix=".tmp", delete=False)
    except OSError as error:
        raise CommandError(f"{option} {path}: cannot write in {folder}: {error.strerror or error}") from None
    try:
        with handle:
            write(handle)
            # The mode open() would give (a temporary file is private to its owner).
            os.chmod(handle.name, _new_file_mode() if not os.path.exists(path) else os.stat(path).st_mode & 0o7777)
        os.replace(handle.name, path)
    except OSError as error:
        raise CommandError(f"{option} {path}: {error.strerror or error}") from None
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)


# ---------------------------------------------------------------------- files to read
# What reading a damaged zip or .npy can raise, besides ValueError and OSError:
# zipfile lets struct, zlib and EOF errors through, NotImplementedError for an
# unknown compression method and RuntimeError for an encrypted member; NumPy's
# header parser, tokenize and syntax errors.
_READ_ERRORS = (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, IndexError, zlib.error,
                struct.error, NotImplementedError, RuntimeError, OverflowError, MemoryError, UnicodeDecodeError,
                tokenize.TokenError, SyntaxError)
_MAX_HEADER = 1 << 16       # bytes of an .npy header; NumPy's own limit is 10,000


class CheckedNpz:
    """An ``.npz`` file opened for reading only what a model needs.

    Each member's ``.npy`` header and its declared size in the zip directory
    are checked against the expected shape before any data is read, so a
    truncated or corrupt file, a header claiming a huge array or a zip bomb
    is refused without allocating or decompressing it. Every problem is a
    :class:`CommandError` naming ``option`` and the file.

    Parameters
    ----------
    path : str
    option : str
        The option that named the file, for the messages (``--load``).
    """

    def __init__(self, path, option="--load"):
        import numpy as np

        self.path, self.option = path, option
        if not os.path.exists(path):
            self.fail("file not found")
        if os.path.isdir(path):
            self.fail("is a directory, not an .npz file")
        if not os.path.isfile(path):
            self.fail("is not a regular file")
        try:
            with open(path, "rb") as handle:
                magic = handle.read(4)
        except OSError as error:
            self.fail(error.strerror or error)
        # np.load would read a plain .npy (or any other format) whole.
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):       # a member first, or an empty archive
            self.fail("not an .npz file (a zip archive of .npy arrays, as --save writes)")
        try:
            self._data = np.load(path, allow_pickle=False)
            self._infos = {info.filename: info for info in self._data.zip.infolist()}
        except _READ_ERRORS as error:
            self.fail(f"not a readable .npz file: {_one_line(error)}")
        # NumPy's NpzFile names a member "<key>.npy" by "<key>".
        self.keys = [name[:-4] if name.endswith(".npy") else name for name in self._infos]

    def fail(self, reason):
        """Raise CommandError ``"<option> <path>: <reason>"``."""
        raise CommandError(f"{self.option} {self.path}: {reason}")

    def close(self):
        data = getattr(self, "_data", None)
        if data is not None:
            data.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _header(self, key, numeric=True):
        """``(shape, dtype, header size, declared size)`` of member ``key``, reading its header only."""
        import numpy as np
        from numpy.lib import format as npy

        info = self._infos.get(key + ".npy")
        if info is None:
            self.fail(f"{key} is not an .npy member")
        try:
            with self._data.zip.open(info) as handle:
                version = npy.read_magic(handle)
                if version == (1, 0):
                    shape, _, dtype = npy.read_array_header_1_0(handle, max_header_size=_MAX_HEADER)
                elif version == (2, 0):
                    shape, _, dtype = npy.read_array_header_2_0(handle, max_header_size=_MAX_HEADER)
                else:
                    self.fail(f"{key} is in .npy format version {version[0]}.{version[1]}, not 1.0 or 2.0")
                header_size = handle.tell()
        except CommandError:
            raise
        except _READ_ERRORS as error:
            self.fail(f"cannot read the header of {key}: {_one_line(error)}")
        dtype = np.dtype(dtype)
        if numeric and (dtype.hasobject or dtype.kind not in "biuf"):
            self.fail(f"{key} holds {dtype} values, not numbers")
        return tuple(shape), dtype, header_size, info.file_size

    def _check_size(self, key, shape, dtype, header_size, declared):
        needed = header_size + math.prod(shape) * dtype.itemsize
        if declared != needed:
            self.fail(f"{key} declares {declared} bytes in the zip directory but its header "
                      f"({shape} {dtype}) needs {needed}: the file is damaged")

    def _read(self, key):
        try:
            return self._data[key]
        except _READ_ERRORS as error:
            self.fail(f"cannot read {key}: {_one_line(error)}")

    def read_text(self, key, max_chars=1 << 14):
        """The string stored as the 0-d array ``key`` (at most ``max_chars`` characters), or None when absent."""
        if key not in self.keys:
            return None
        shape, dtype, header_size, declared = self._header(key, numeric=False)
        if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * max_chars:
            self.fail(f"{key} is not a short string")
        self._check_size(key, shape, dtype, header_size, declared)
        return str(self._read(key))

    def read_arrays(self, expected, *, ignore=()):
        """The members for every entry of ``expected``, checked against it before any data is read.

        Parameters
        ----------
        expected : mapping of str to ndarray
            The model's ``state_dict()``: names and shapes wanted.
        ignore : iterable of str
            Members read elsewhere (not reported as unexpected).

        Returns
        -------
        dict of str to ndarray
        """
        ignore = set(ignore)
        missing = [key for key in expected if key not in self.keys]
        unexpected = [key for key in self.keys if key not in expected and key not in ignore]
        if missing or unexpected:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(unexpected)}"] if unexpected else [])
            self.fail(f"the arrays do not match the model's ({'; '.join(parts)})")
        for key, target in expected.items():
            shape, dtype, header_size, declared = self._header(key)
            if shape != tuple(target.shape):
                self.fail(f"{key} has shape {shape} in the file but {tuple(target.shape)} in the model")
            self._check_size(key, shape, dtype, header_size, declared)
        return {key: self._read(key) for key in expected}


# ---------------------------------------------------------------------- memory
def available_memory():
    """Bytes this process can still allocate (the least of free RAM, its address-space limit and its cgroup's), or None."""
    limits = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
                    break
    except (OSError, ValueError, IndexError):
        pass
    if not limits:
        try:
            limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as handle:
            limit = handle.read().strip()
        if limit != "max":
            with open("/sys/fs/cgroup/memory.current") as handle:
                limits.append(max(0, int(limit) - int(handle.read().strip())))
    except (OSError, ValueError):
        pass
    return min(limits) if limits else None


def _bytes_text(count):
    if count < 1024:
        return f"{count} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        count /= 1024
        if count < 1024:
            return f"{count:.1f} {unit}"
    return f"{count / 1024:.3g} EiB"


def training_bytes(in_width, hidden, out_width, layers, num_rows, itemsize=4):
    """A lower bound of the memory needed to train ``layers`` layers ``in_width -> hidden ... -> out_width``.

    Parameters
    ----------
    in_width, out_width : int
    hidden : int or list of int
        The width of every hidden layer, or one width per hidden layer.
    layers : int
        Used when ``hidden`` is one width.
    num_rows : int
        Rows each layer computes at once (nodes of the graph or batch).
    itemsize : int

    Returns
    -------
    int
        Bytes: each layer's ``in x out`` weight kept four times (value,
        gradient, Adam's two moments) and its output rows three times
        (output, activation or dropout mask, gradient). Models with more
        weights per layer need more. Python ints: no overflow however wide.
    """
    if isinstance(hidden, (list, tuple)):
        widths = [int(in_width), *map(int, hidden), int(out_width)]
        parameters = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
        outputs = sum(widths[1:])
    else:
        width, layers = int(hidden), int(layers)
        if layers == 1:
            parameters, outputs = in_width * out_width, out_width
        else:       # arithmetic, not a list: --layers may be absurdly large
            parameters = in_width * width + (layers - 2) * width * width + width * out_width
            outputs = (layers - 1) * width + out_width
    return itemsize * (4 * parameters + 3 * int(num_rows) * outputs)


def check_memory(needed, options):
    """CommandError naming ``options`` (e.g. ``"--hidden 100000000"``) when ``needed`` bytes exceed what is available."""
    available = available_memory()
    if available is not None and needed > available:
        raise CommandError(f"{options}: the model and its activations need at least {_bytes_text(needed)}, "
                           f"more than the {_bytes_text(available)} of memory available")


# ---------------------------------------------------------------------- datasets
# What a loader may let through on a damaged file (beyond ValueError and
# OSError, which it raises on purpose): reported with the folder it read.
_DATASET_ERRORS = (MemoryError, OverflowError, IndexError, KeyError, EOFError, struct.error, zlib.error,
                   pickle.UnpicklingError, UnicodeDecodeError, TypeError, AttributeError)


@contextlib.contextmanager
def dataset_errors(data_root, dataset):
    """Turn what reading ``dataset`` from ``data_root`` raises into one CommandError naming the folder.

    A loader's ValueError or OSError names the file already; other errors
    (the fallback for a file the loader did not expect) get the folder and
    the error's type.
    """
    where = f"--data-root {data_root}" if data_root is not None else f"--dataset {dataset}"
    try:
        yield
    except CommandError:
        raise
    except _DATASET_ERRORS as error:
        kind = "out of memory" if isinstance(error, MemoryError) else type(error).__name__
        raise CommandError(f"{where}: cannot read dataset {dataset} ({kind}: {_one_line(error)})") from None
    except (ValueError, OSError) as error:
        message = _one_line(error)
        if data_root is None or str(data_root) not in message:
            message = f"{where}: {message}"
        raise CommandError(message) from None
