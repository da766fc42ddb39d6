"""Fuzz the boundary: malformed CSR arrays, edge lists, scipy matrices and op arguments must give a clean
ValueError/TypeError (naming nothing in particular), never a crash, a hang or a wrong silent result.

Inputs come from a seeded generator (reproducible): random dtypes (every integer and float width,
bool, complex, object, strings, datetimes), shapes (0-d to 3-d, wrong lengths), values (negative,
NaN, inf, huge, beyond int64), non-arrays (None, strings, ragged lists, broken array protocols),
and valid inputs with one field corrupted, scipy matrices whose arrays were edited behind scipy's back,
extreme thread counts, arg arrays whose values wrap in a narrower dtype, and strided views of index
tensors. Whatever is accepted must be a valid graph on which the ops then run, with the right result.
The cases run in a subprocess, so even a segfault is reported as a clean test failure.

The default run is bounded for CI (well under a minute); ``FASTGNN_FUZZ_SCALE=N`` multiplies the
iterations by N for a longer local run, e.g. ``FASTGNN_FUZZ_SCALE=50 pytest tests/test_fuzz.py``.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn

ALLOWED = (ValueError, TypeError)
FUZZ_SCALE = max(1, int(os.environ.get("FASTGNN_FUZZ_SCALE", "1") or 1))
ITERATIONS = 1000 * FUZZ_SCALE

# ---------------------------------------------------------------------------- generators of garbage
_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.float16,
           np.float32, np.float64, np.bool_, np.complex64, np.complex128]
_HUGE = [2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 62, 2 ** 63 - 1, -(2 ** 63)]


class _BrokenArray:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("broken __array__")


class _BrokenDlpack:
    def __dlpack_device__(self):
        raise RuntimeError("broken device")

    def __dlpack__(self, stream=None):
        raise RuntimeError("broken dlpack")


class _GpuDlpack:
    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        raise AssertionError("must not be read")


def _non_array(rng):
    choices = [None, "abc", 3.5, 7, -1, [1, [2, 3]], {"a": 1}, object(), b"\x00\x01", (i for i in range(3)),
               memoryview(b"abcd"), _BrokenArray(), _BrokenDlpack(), _GpuDlpack(), [[]], [None, 1], float("nan"),
               [1.5, 2.5], ["1", "2"], np.datetime64("2020-01-01"), 2 ** 70, True]
    return choices[rng.integers(len(choices))]


def _random_array(rng, length=None):
    """An array of random dtype, rank and values (sometimes of the requested length)."""
    kind = rng.integers(6)
    if kind == 0:
        return np.array(["a", "b", "c"][: rng.integers(4)])
    if kind == 1:
        return np.array([object(), 1], dtype=object)
    if kind == 2:
        return np.arange(rng.integers(0, 4)).astype("datetime64[s]")
    dtype = np.dtype(_DTYPES[rng.integers(len(_DTYPES))])
    rank = rng.choice([0, 1, 1, 1, 2, 3])
    if rank == 1 and length is not None and rng.random() < 0.6:
        shape = (length,)
    else:
        shape = tuple(int(s) for s in rng.integers(0, 6, rank))
    values = rng.integers(-5, 20, size=shape)
    if rng.random() < 0.2 and values.size:
        values.flat[rng.integers(values.size)] = _HUGE[rng.integers(len(_HUGE))]
    with np.errstate(all="ignore"):
        if dtype.kind in "fc":
            array = values.astype(dtype)
            if rng.random() < 0.3 and array.size:
                array.flat[rng.integers(array.size)] = [np.nan, np.inf, -np.inf][rng.integers(3)]
            return array
        return values.astype(np.int64).astype(dtype) if dtype.kind != "b" else values.astype(bool)


def _garbage(rng, length=None):
    return _non_array(rng) if rng.random() < 0.3 else _random_array(rng, length)


def _valid_csr(rng):
    num_dst = int(rng.integers(0, 6))
    num_src = int(rng.integers(1, 6))
    degrees = rng.integers(0, 4, num_dst)
    indptr = np.concatenate([[0], np.cumsum(degrees)]).astype(np.int64)
    indices = rng.integers(0, num_src, int(indptr[-1]))
    return indptr, indices, num_src


def _corrupt(rng, indptr, indices, num_src):
    """One field of a valid CSR made invalid (or left valid) in a random way."""
    indptr, indices = indptr.copy(), indices.copy()
    what = rng.integers(10)
    if what == 0 and indptr.size > 1:
        indptr[rng.integers(1, indptr.size)] += int(rng.integers(-3, 4))  # non-monotone or wrong end
    elif what == 1 and indices.size:
        indices[rng.integers(indices.size)] = [-1, num_src, num_src + 7, 2 ** 40, -(2 ** 63)][rng.integers(5)]
    elif what == 2:
        indptr = indptr[:-1] if indptr.size else indptr  # wrong length
    elif what == 3:
        indices = np.append(indices, 0)
    elif what == 4:
        indptr = indptr.astype(np.float64)
        if indptr.size:
            indptr[rng.integers(indptr.size)] = np.nan
    elif what == 5:
        indptr = indptr.astype(np.uint64)
        if indptr.size:
            indptr[-1] = np.iinfo(np.uint64).max
    elif what == 6:
        indices = indices.reshape(1, -1)
    elif what == 7:
        indptr = indptr + 1
    elif what == 8:
        indices = indices.astype(np.int8)
    return indptr, indices


def _num_nodes_garbage(rng):
    return [None, -1, 0, 3, 2 ** 31, 2 ** 62, 2 ** 64, 2 ** 70, 3.0, 2.5, "3", True, np.int64(4), np.uint64(5),
            np.float64(3), [3], None][rng.integers(16)]


# ---------------------------------------------------------------------------- checks of what was accepted
def _assert_valid(graph):
    assert isinstance(graph, fastgnn.Graph)
    indptr, indices = graph.indptr, graph.indices
    assert indptr.dtype in (np.int32, np.int64) and indices.dtype == indptr.dtype
    assert indptr[0] == 0 and indptr[-1] == indices.shape[0] and np.all(np.diff(indptr) >= 0)
    assert indices.size == 0 or (indices.min() >= 0 and indices.max() < graph.num_src_nodes)
    if graph.edge_weight is not None:
        assert graph.edge_weight.shape == (graph.num_edges,) and np.all(np.isfinite(graph.edge_weight))
    if graph.num_src_nodes <= 10_000:  # the ops run on it
        x = np.ones((graph.num_src_nodes, 2), np.float32)
        for reduce in ("sum", "max"):
            out, arg = fastgnn.aggregate(graph, x, reduce, return_arg=True)
            fastgnn.aggregate_backward(graph, out, reduce, x=x, arg=arg, need_weight_grad=True)


def _attempt(function, *args, may_exhaust_memory=False, **kwargs):
    """Call; ValueError/TypeError are clean refusals. MemoryError is accepted only for a graph that
    really asks for billions of nodes (a valid request this machine cannot hold)."""
    try:
        return function(*args, **kwargs)
    except ALLOWED:
        return None
    except MemoryError:
        if may_exhaust_memory:
            return None
        raise
    except Exception as error:  # anything else is a finding
        raise AssertionError(f"{function.__qualname__} raised {type(error).__name__}: {error} "
                             f"for args={args!r} kwargs={kwargs!r}") from error


# ---------------------------------------------------------------------------- the fuzz targets
def fuzz_from_csr(seed):
    rng = np.random.default_rng(seed)
    for _ in range(ITERATIONS):
        indptr, indices, num_src = _valid_csr(rng)
        mode = rng.integers(4)
        if mode == 0:
            indptr = _garbage(rng)
        elif mode == 1:
            indices = _garbage(rng, None if indptr.size == 0 else int(indptr[-1]))
        else:
            indptr, indices = _corrupt(rng, indptr, indices, num_src)
        edge_weight = None if rng.random() < 0.6 else _garbage(rng, np.size(indices) if hasattr(indices, "size")
                                                                 else None)
        num_src_nodes = num_src if rng.random() < 0.5 else _num_nodes_garbage(rng)
        index_dtype = [None, "int32", "int64", np.int16, "float32", "nonsense", 5][rng.integers(7)]
        graph = _attempt(fastgnn.Graph.from_csr, indptr, indices, edge_weight, num_src_nodes,
                         index_dtype=index_dtype)
        if graph is not None:
            _assert_valid(graph)


def fuzz_from_edge_index(seed):
    rng = np.random.default_rng(seed)
    for _ in range(ITERATIONS):
        num_edges = int(rng.integers(0, 8))
        if rng.random() < 0.5:
            edge_index = rng.integers(-1, 7, (2, num_edges))
            if rng.random() < 0.3 and num_edges:
                edge_index[rng.integers(2), rng.integers(num_edges)] = _HUGE[rng.integers(len(_HUGE))]
            edge_index = edge_index.astype(_DTYPES[rng.integers(len(_DTYPES))]) if rng.random() < 0.4 else edge_index
        else:
            edge_index = _garbage(rng)
        kwargs = {}
        for name in ("num_nodes", "num_src_nodes", "num_dst_nodes"):
            if rng.random() < 0.4:
                kwargs[name] = _num_nodes_garbage(rng)
        if rng.random() < 0.3:
            kwargs["edge_weight"] = _garbage(rng, num_edges)
        if rng.random() < 0.2:
            kwargs["index_dtype"] = ["int32", "int64", "uint8", None][rng.integers(4)]
        sizes = [v for v in kwargs.values() if isinstance(v, (int, np.integer)) and not isinstance(v, bool)]
        if isinstance(edge_index, np.ndarray) and edge_index.dtype.kind in "iu" and edge_index.size:
            sizes.append(int(edge_index.max()))
        result = _attempt(fastgnn.Graph.from_edge_index, edge_index, **kwargs,
                          may_exhaust_memory=max(sizes, default=0) >= 2 ** 30)
        if result is not None:
            _assert_valid(result)


_FAR = [-1, -(2 ** 31), 3, 7, 10 ** 8, 2 ** 31, 2 ** 40]


def _edited_behind_scipys_back(rng, matrix):
    """A COO, CSC or BSR copy of ``matrix`` with one coordinate or pointer edited after construction."""
    fmt = ["coo", "coo", "csc", "bsr"][rng.integers(4)]
    matrix = matrix.asformat(fmt) if fmt != "bsr" else sp.bsr_matrix(matrix, blocksize=(1, 1))
    if rng.random() < 0.5:
        matrix = sp.coo_array(matrix) if fmt == "coo" else matrix
    with np.errstate(all="ignore"):
        if fmt == "coo" and matrix.nnz:
            field = ["row", "col"][rng.integers(2)]
            values = getattr(matrix, field).astype(np.int64)
            values[rng.integers(values.size)] = _FAR[rng.integers(len(_FAR))]
            if rng.random() < 0.2:
                values = values[:-1]  # lengths that disagree with data
            setattr(matrix, field, values)
        elif fmt != "coo":
            if matrix.indices.size and rng.random() < 0.6:
                indices = matrix.indices.astype(np.int64)
                indices[rng.integers(indices.size)] = _FAR[rng.integers(len(_FAR))]
                matrix.indices = indices
            else:
                indptr = matrix.indptr.astype(np.int64)
                indptr[rng.integers(indptr.size)] += int(rng.integers(-3, 4))
                matrix.indptr = indptr
    return matrix


def fuzz_num_threads(seed):
    """Thread counts at the edges of the accepted range, and far beyond it, reach no OpenMP call."""
    from fastgnn._runtime.threads import max_num_threads

    rng = np.random.default_rng(seed)
    cap = max_num_threads()
    counts = [0, -1, 1, 2, 3, cap, cap + 1, 5000, 100_000, 2 ** 31 - 1, 2 ** 31, 2 ** 63, 2 ** 64, 2 ** 70,
              np.int64(cap), np.uint64(2 ** 64 - 1), np.int32(-5), 2.0, True, "4", None]
    # Large enough to run in parallel, so an accepted count really reaches OpenMP.
    graph = fastgnn.Graph.from_csr(np.arange(2001) * 600, rng.integers(0, 500, 1_200_000), num_src_nodes=500)
    x = rng.standard_normal((500, 8)).astype(np.float32)
    reference = fastgnn.aggregate(graph, x, "max", n_threads=1)
    for _ in range(max(1, ITERATIONS // 50)):
        count = counts[rng.integers(len(counts))]
        reduce = ["sum", "max"][rng.integers(2)]
        if _attempt(fastgnn.set_num_threads, count) is None and count is not None:
            fastgnn.set_num_threads(None)
        out = _attempt(fastgnn.aggregate, graph, x, reduce, n_threads=count)
        if out is not None and reduce == "max":
            np.testing.assert_array_equal(out, reference)
        _attempt(fastgnn.aggregate_backward, graph, np.ones((2000, 8), np.float32), "sum", n_threads=count)
        _attempt(fastgnn.segment_reduce, x, np.array([0, 250, 500]), reduce, n_threads=count)
        _attempt(fastgnn.edge_dot, graph, np.ones((2000, 8), np.float32), x, n_threads=count)
    fastgnn.set_num_threads(None)


def fuzz_wrapping_arg(seed):
    """An arg whose values would wrap to valid edge ids (or -1) in the graph's index dtype is refused."""
    rng = np.random.default_rng(seed)
    for _ in range(ITERATIONS // 10):
        indptr, indices, num_src = _valid_csr(rng)
        graph = fastgnn.Graph.from_csr(indptr, indices, num_src_nodes=num_src)
        x = rng.standard_normal((num_src, 2))
        _, arg = fastgnn.aggregate(graph, x, "max", return_arg=True)
        if arg.size == 0:
            continue
        dtype = [np.int64, np.uint64, np.uint32][rng.integers(3)]
        wrapped = arg.astype(np.int64).astype(dtype)
        position = rng.integers(arg.size)
        with np.errstate(all="ignore"):
            bits = 32 if dtype == np.uint32 else 64
            if dtype == np.int64:
                wrapped.flat[position] = int(arg.flat[position]) + 2 ** 32 * int(rng.choice([-1, 1, 2]))
            else:
                wrapped.flat[position] = (int(arg.flat[position]) + 2 ** (bits - 1)) % 2 ** bits
        try:
            fastgnn.aggregate_backward(graph, np.ones_like(arg, dtype=np.float64), "max", arg=wrapped)
        except ValueError as error:
            assert "arg contains" in str(error), error
        else:
            raise AssertionError(f"accepted arg value {wrapped.flat[position]} ({dtype.__name__})")


def fuzz_from_scipy(seed):
    rng = np.random.default_rng(seed)
    for _ in range(ITERATIONS):
        indptr, indices, num_src = _valid_csr(rng)
        data = np.ones(indices.shape[0])
        matrix = sp.csr_matrix((data, indices, indptr), shape=(indptr.size - 1, num_src))
        mode = rng.integers(6)
        if mode == 0:  # corrupt the arrays inside the matrix, behind scipy's back
            bad_indptr, bad_indices = _corrupt(rng, indptr, indices, num_src)
            if bad_indptr.ndim == 1 and bad_indices.ndim == 1 and bad_indptr.dtype.kind in "iu" \
                    and bad_indices.dtype.kind in "iu":
                matrix.indptr, matrix.indices = bad_indptr, bad_indices
        elif mode == 1 and data.size:
            matrix.data = matrix.data.astype(np.float64)
            matrix.data[rng.integers(data.size)] = [np.nan, np.inf, -2.0][rng.integers(3)]
        elif mode == 2:
            matrix = matrix.tocoo() if rng.random() < 0.5 else matrix.tocsc()
        elif mode == 3:
            matrix = [_garbage(rng), matrix.toarray()][rng.integers(2)]
        elif mode == 4:
            matrix = _edited_behind_scipys_back(rng, matrix)
        if sp.issparse(matrix) and rng.random() < 0.3:  # set behind scipy's back (it refuses float16 itself)
            matrix.data = matrix.data.astype([np.complex64, np.float16, np.int8, np.bool_, np.uint64][rng.integers(5)])
        index_dtype = [None, "int32", "int64", "bad"][rng.integers(4)]
        graph = _attempt(fastgnn.Graph.from_scipy, matrix, index_dtype=index_dtype)
        if graph is not None:
            _assert_valid(graph)


def fuzz_ops(seed):
    rng = np.random.default_rng(seed)
    for _ in range(ITERATIONS):
        indptr, indices, num_src = _valid_csr(rng)
        graph = fastgnn.Graph.from_csr(indptr, indices, num_src_nodes=num_src)
        width = int(rng.integers(0, 4))
        x = rng.standard_normal((num_src, width)).astype(np.float32)
        grad = np.ones((graph.num_dst_nodes, width), np.float32)
        reduce = ["sum", "mean", "max", "min", "prod", None, 3, "MAX"][rng.integers(8)]
        corrupt = rng.integers(9)
        args = {"graph": graph, "x": x, "edge_weight": None, "n_threads": None, "out": None, "arg": None}
        if corrupt == 0:
            args["graph"] = [_garbage(rng), sp.csr_matrix((2, 2)), (indptr, indices)][rng.integers(3)]
        elif corrupt == 1:
            args["x"] = _garbage(rng, num_src)
        elif corrupt == 2:
            args["edge_weight"] = _garbage(rng, graph.num_edges)
        elif corrupt == 3:
            args["n_threads"] = [0, -1, 2.5, "2", True, 2 ** 70, None, 3][rng.integers(8)]
        elif corrupt == 4:
            args["out"] = [_garbage(rng), np.empty((graph.num_dst_nodes, width), np.float64),
                           np.empty((graph.num_dst_nodes + 1, width), np.float32), x][rng.integers(4)]
        elif corrupt == 5:
            args["arg"] = _garbage(rng)
        _attempt(fastgnn.aggregate, args["graph"], args["x"], reduce, edge_weight=args["edge_weight"],
                 out=args["out"], n_threads=args["n_threads"])
        _attempt(fastgnn.aggregate_backward, args["graph"], grad if corrupt != 1 else args["x"], reduce,
                 x=x if corrupt != 1 else args["x"], edge_weight=args["edge_weight"],
                 arg=args["arg"] if corrupt == 5 else None, need_weight_grad=bool(rng.integers(2)),
                 n_threads=args["n_threads"])
        ptr = _garbage(rng, 3) if corrupt in (6, 7) else np.array([0, num_src])
        _attempt(fastgnn.segment_reduce, args["x"], ptr, reduce, n_threads=args["n_threads"])
        _attempt(fastgnn.segment_reduce_backward, _garbage(rng) if corrupt == 8 else grad[:1], ptr, reduce,
                 arg=args["arg"] if corrupt == 5 else None)
        _attempt(fastgnn.edge_dot, args["graph"], grad if corrupt != 1 else args["x"], args["x"],
                 n_threads=args["n_threads"])
        _attempt(fastgnn.edge_dot_backward, args["graph"], _garbage(rng, graph.num_edges) if corrupt == 2
                 else np.ones(graph.num_edges, np.float32), grad, x)


# The children run with a capped address space: a graph of billions of nodes (valid, but too big)
# fails with MemoryError there instead of waking the OOM killer on a shared machine.
MEMORY_LIMIT = 3 << 30


def limit_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def fuzz_torch_adapter(seed):
    """fastgnn.interop.torch with garbage tensors: only ValueError/TypeError come out."""
    import torch

    from fastgnn.interop import torch as ft

    rng = np.random.default_rng(seed)
    for _ in range(ITERATIONS // 4):
        indptr, indices, num_src = _valid_csr(rng)
        edge_index = torch.from_numpy(np.stack([indices, np.repeat(np.arange(indptr.size - 1), np.diff(indptr))]))
        adj = torch.sparse_csr_tensor(torch.from_numpy(indptr), torch.from_numpy(indices),
                                      torch.ones(indices.size), size=(indptr.size - 1, num_src))
        x = torch.randn(num_src, 3)

        def garbage_tensor(length=None):
            array = _random_array(rng, length)
            if not isinstance(array, np.ndarray) or array.dtype.kind in "OUMc" or array.dtype == np.uint16 \
                    or array.dtype == np.uint32 or array.dtype == np.uint64:
                return _non_array(rng)
            return torch.from_numpy(np.ascontiguousarray(array))

        corrupt = rng.integers(5)
        graph_arg = [edge_index, adj, garbage_tensor()][rng.integers(3) if corrupt == 0 else rng.integers(2)]
        x_arg = garbage_tensor(num_src) if corrupt == 1 else x
        weight = garbage_tensor(indices.size) if corrupt == 2 else None
        reduce = ["sum", "mean", "max", "min", "prod"][rng.integers(5)]
        _attempt(ft.aggregate, graph_arg, x_arg, reduce, weight, num_nodes=max(num_src, indptr.size - 1))
        _attempt(ft.spmm, graph_arg, x_arg, reduce)
        _attempt(ft.segment_reduce, x_arg, garbage_tensor(3) if corrupt == 3 else torch.tensor([0, num_src]),
                 reduce)
        _attempt(ft.edge_dot, graph_arg, garbage_tensor() if corrupt == 4 else torch.randn(indptr.size - 1, 3),
                 x_arg, num_nodes=max(num_src, indptr.size - 1))


def fuzz_torch_strided_indices(seed):
    """Strided, transposed and offset views of one index storage never share a cached graph."""
    import torch

    from fastgnn.interop import torch as ft

    rng = np.random.default_rng(seed)
    num_nodes = 6
    for _ in range(ITERATIONS // 10):
        base = torch.from_numpy(rng.integers(0, num_nodes, (4, 12)))
        x = torch.randn(num_nodes, 3, dtype=torch.float64)
        views = [base[:2], base[2:], base[::2], base[1::2], base[:2, ::2], base[:2, 1::3],
                 base.view(-1)[:24].view(2, 12), base.view(-1)[24:].view(2, 12), base.t()[:, :2].t(), base.t()[:, 2:].t(),
                 base.reshape(-1).as_strided((2, 6), (1, 2)), base.reshape(-1).as_strided((2, 5), (12, 1), 3)]
        for index in rng.permutation(len(views)):
            view = views[index]
            reduce = ["sum", "max", "mean"][rng.integers(3)]
            got = ft.aggregate(view, x, reduce, num_nodes=num_nodes)
            expected = fastgnn.aggregate(fastgnn.Graph.from_edge_index(view.numpy().copy(), num_nodes=num_nodes),
                                         x.numpy(), reduce)
            np.testing.assert_array_equal(got.numpy(), expected, err_msg=f"view {index}")


TARGETS = {"from_csr": fuzz_from_csr, "from_edge_index": fuzz_from_edge_index, "from_scipy": fuzz_from_scipy,
           "ops": fuzz_ops, "torch_adapter": fuzz_torch_adapter, "num_threads": fuzz_num_threads,
           "wrapping_arg": fuzz_wrapping_arg, "torch_strided_indices": fuzz_torch_strided_indices}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_in_a_subprocess(target):
    """Run the fuzz target in a child: an assertion, a crash or a hang is reported, not fatal to pytest."""
    if target.startswith("torch"):
        pytest.importorskip("torch")
    code = textwrap.dedent(f"""
        import sys, warnings
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        warnings.simplefilter("ignore")
        import test_fuzz
        test_fuzz.limit_memory()
        for seed in range(3):
            test_fuzz.TARGETS[{target!r}](seed)
    """)
    result = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, (f"fuzz target {target} failed (exit code {result.returncode}):\n"
                                    f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")


def test_garbage_generators_cover_every_kind():
    """The generators really produce the variety the targets rely on."""
    rng = np.random.default_rng(0)
    kinds = {np.asarray(_random_array(rng)).dtype.kind for _ in range(300)}
    assert {"i", "u", "f", "b", "c", "O", "U", "M"} <= kinds


def test_sizes_beyond_int64_are_refused():
    with pytest.raises(ValueError, match="int64"):
        fastgnn.Graph.from_csr([0, 1], [0], num_src_nodes=2 ** 64)
    with pytest.raises(ValueError, match="int64"):
        fastgnn.Graph.from_edge_index(np.array([[np.iinfo(np.uint64).max], [0]], dtype=np.uint64))
    with pytest.raises(ValueError, match="int64"):
        fastgnn.Graph.from_edge_index(np.zeros((2, 0), np.int64), num_nodes=2 ** 63)
