"""Bad input raises ValueError or TypeError with a message that names the argument."""
import numpy as np
import pytest
import scipy.sparse as sp

import fastgnn
from fastgnn import Graph


@pytest.fixture
def graph():
    # 4 destination nodes, 3 source nodes, 5 edges.
    return Graph.from_csr([0, 2, 2, 4, 5], [0, 2, 1, 1, 0], num_src_nodes=3)


@pytest.fixture
def x():
    return np.ones((3, 2))


# ---------------------------------------------------------------- graph construction

def test_indptr_not_monotone():
    with pytest.raises(ValueError, match="indptr must be non-decreasing"):
        Graph.from_csr([0, 2, 1, 3], [0, 1, 2])


def test_indptr_not_starting_at_zero():
    with pytest.raises(ValueError, match="indptr must start at 0"):
        Graph.from_csr([1, 2, 3], [0, 1])


def test_indptr_inconsistent_with_indices():
    with pytest.raises(ValueError, match="indptr must end at 3"):
        Graph.from_csr([0, 1, 2], [0, 1, 1])


def test_indptr_empty():
    with pytest.raises(ValueError, match="indptr"):
        Graph.from_csr(np.zeros(0, dtype=np.int64), [])


def test_indptr_two_dimensional():
    with pytest.raises(ValueError, match="indptr must be 1-D"):
        Graph.from_csr(np.array([[0, 1], [1, 1]]), [0])


def test_nan_in_indptr():
    with pytest.raises(TypeError, match="indptr must have an integer dtype"):
        Graph.from_csr(np.array([0.0, np.nan, 2.0]), [0, 1])


def test_float_indices():
    with pytest.raises(TypeError, match="indices must have an integer dtype"):
        Graph.from_csr([0, 1, 2], np.array([0.0, 1.0]))


def test_index_out_of_range():
    with pytest.raises(ValueError, match="indices contains id 3"):
        Graph.from_csr([0, 1, 2], [0, 3], num_src_nodes=3)


def test_index_beyond_a_square_graph_suggests_num_src_nodes():
    with pytest.raises(ValueError, match="num_src_nodes"):
        Graph.from_csr([0, 1, 2], [0, 2])


def test_negative_index():
    with pytest.raises(ValueError, match="indices contains a negative id"):
        Graph.from_csr([0, 1, 2], [0, -1])


def test_negative_num_src_nodes():
    with pytest.raises(ValueError, match="num_src_nodes must be non-negative"):
        Graph.from_csr([0, 0], [], num_src_nodes=-1)


def test_non_integer_num_nodes():
    with pytest.raises(TypeError, match="num_nodes must be an integer"):
        Graph.from_edge_index(np.array([[0], [1]]), num_nodes=2.5)


def test_unknown_index_dtype():
    with pytest.raises(TypeError, match="index_dtype"):
        Graph.from_csr([0, 1], [0], index_dtype=np.int16)


def test_edge_index_wrong_shape():
    with pytest.raises(ValueError, match="edge_index must have shape"):
        Graph.from_edge_index(np.array([[0, 1, 2]]))


def test_edge_index_float():
    with pytest.raises(TypeError, match="edge_index must have an integer dtype"):
        Graph.from_edge_index(np.array([[0.0, 1.0], [1.0, 0.0]]))


def test_edge_index_negative_id():
    with pytest.raises(ValueError, match="edge_index contains a negative id"):
        Graph.from_edge_index(np.array([[0, -1], [1, 0]]))


def test_edge_index_destination_out_of_range():
    with pytest.raises(ValueError, match=r"edge_index\[1\]"):
        Graph.from_edge_index(np.array([[0, 1], [1, 5]]), num_nodes=3)


def test_graph_edge_weight_wrong_length():
    with pytest.raises(ValueError, match="edge_weight must have shape"):
        Graph.from_csr([0, 1, 2], [1, 0], edge_weight=[1.0, 2.0, 3.0])


def test_graph_edge_weight_not_finite():
    with pytest.raises(ValueError, match="edge_weight must be finite"):
        Graph.from_csr([0, 1, 2], [1, 0], edge_weight=[1.0, np.inf])


def test_from_scipy_needs_a_sparse_matrix():
    with pytest.raises(TypeError, match="matrix must be a scipy sparse matrix"):
        Graph.from_scipy(np.eye(3))


def test_from_scipy_complex_values():
    with pytest.raises(TypeError, match="matrix must hold real values"):
        Graph.from_scipy(sp.csr_matrix(np.eye(2) * 1j))


# ---------------------------------------------------------------- aggregate

def test_graph_of_the_wrong_type(x):
    with pytest.raises(TypeError, match="graph must be a fastgnn.Graph or a scipy sparse matrix"):
        fastgnn.aggregate(np.eye(3), x)


def test_x_wrong_number_of_rows(graph):
    with pytest.raises(ValueError, match="x must have 3 rows"):
        fastgnn.aggregate(graph, np.ones((4, 2)))


def test_x_four_dimensional(graph):
    # 3-D x is (N, H, F): heads of features (see tests/ops/test_attention_ops.py)
    with pytest.raises(ValueError, match="x must be 1-D, 2-D or 3-D"):
        fastgnn.aggregate(graph, np.ones((3, 2, 2, 2)))
    with pytest.raises(ValueError, match="grad_out must be 1-D, 2-D or 3-D"):
        fastgnn.aggregate_backward(graph, np.ones((3, 2, 2, 2)))


def test_x_integer_dtype(graph):
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        fastgnn.aggregate(graph, np.ones((3, 2), dtype=np.int64))


def test_x_float16(graph):
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        fastgnn.aggregate(graph, np.ones((3, 2), dtype=np.float16))


def test_x_not_an_array(graph):
    with pytest.raises(TypeError, match="x must be"):
        fastgnn.aggregate(graph, None)


def test_edge_weight_wrong_shape(graph, x):
    with pytest.raises(ValueError, match=r"edge_weight must have shape \(5,\)"):
        fastgnn.aggregate(graph, x, edge_weight=np.ones(4))


def test_edge_weight_wrong_dtype(graph, x):
    with pytest.raises(TypeError, match="edge_weight must hold real numbers"):
        fastgnn.aggregate(graph, x, edge_weight=np.ones(5, dtype=complex))


@pytest.mark.parametrize("reduce", ["avg", "SUM", "", None, 1])
def test_unknown_reduce(graph, x, reduce):
    with pytest.raises(ValueError, match="reduce must be one of"):
        fastgnn.aggregate(graph, x, reduce)


# ---------------------------------------------------------------- aggregate_backward

def test_backward_unknown_reduce(graph):
    with pytest.raises(ValueError, match="reduce must be one of"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), "median")


def test_grad_out_wrong_number_of_rows(graph):
    with pytest.raises(ValueError, match="grad_out must have 4 rows"):
        fastgnn.aggregate_backward(graph, np.ones((3, 2)))


def test_grad_out_wrong_width(graph, x):
    with pytest.raises(ValueError, match="x has 2 features but grad_out has 3"):
        fastgnn.aggregate_backward(graph, np.ones((4, 3)), x=x, need_weight_grad=True)


def test_grad_out_wrong_dtype(graph):
    with pytest.raises(TypeError, match="grad_out must have dtype float32 or float64"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2), dtype=np.int32))


def test_backward_x_dtype_differs_from_grad_out(graph, x):
    with pytest.raises(TypeError, match="x has dtype float32 but grad_out has float64"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), x=x.astype(np.float32), need_weight_grad=True)


def test_weight_gradient_needs_x(graph):
    with pytest.raises(ValueError, match="x is required"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), need_weight_grad=True)


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_max_min_backward_without_arg(graph, reduce):
    with pytest.raises(ValueError, match="arg is required"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), reduce)


def test_arg_wrong_shape(graph):
    with pytest.raises(ValueError, match=r"arg must have shape \(4, 2\)"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), "max", arg=np.zeros((4, 3), dtype=np.int64))


@pytest.mark.parametrize("bad_id", [5, -2, 10**6, 0, -1])
def test_arg_out_of_range(graph, bad_id):
    _, arg = fastgnn.aggregate(graph, np.ones((3, 2)), "max", return_arg=True)
    arg = arg.copy()
    arg[3, 1] = bad_id  # row 3 holds only edge 4
    with pytest.raises(ValueError, match=r"arg contains 1 entries that are not an edge of their row"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), "max", arg=arg)


@pytest.mark.parametrize("dtype, row, bad_id", [(np.int64, 0, 2 ** 32 + 1), (np.uint64, 1, 2 ** 64 - 1),
                                                 (np.uint32, 1, 2 ** 32 - 1), (np.int64, 1, -(2 ** 32) - 1)])
def test_arg_is_range_checked_before_the_cast(graph, dtype, row, bad_id):
    # Cast to the graph's int32 ids these would wrap to a valid edge (1) or to -1 (an empty row).
    _, arg = fastgnn.aggregate(graph, np.ones((3, 2)), "max", return_arg=True)
    arg = arg.astype(np.int64).astype(dtype)
    arg[row, 0] = bad_id
    with pytest.raises(ValueError, match=f"arg contains {bad_id}"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), "max", arg=arg)


def test_segment_arg_is_range_checked_before_the_cast():
    arg = np.zeros((2, 3), dtype=np.uint64)
    arg[1] = 2 ** 64 - 1
    with pytest.raises(ValueError, match="arg contains"):
        fastgnn.segment_reduce_backward(np.ones((2, 3)), [0, 2, 2], "min", arg=arg)


def test_segment_arg_out_of_range():
    with pytest.raises(ValueError, match="arg contains"):
        fastgnn.segment_reduce_backward(np.ones((2, 3)), [0, 2, 4], "min", arg=np.full((2, 3), 4))


def test_arg_float(graph):
    with pytest.raises(TypeError, match="arg must have an integer dtype"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), "max", arg=np.zeros((4, 2)))


def test_backward_edge_weight_wrong_shape(graph):
    with pytest.raises(ValueError, match="edge_weight must have shape"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), edge_weight=np.ones(6))


# ---------------------------------------------------------------- segment_reduce

def test_segment_ptr_not_monotone():
    with pytest.raises(ValueError, match="ptr must be non-decreasing"):
        fastgnn.segment_reduce(np.ones((4, 2)), [0, 3, 2, 4])


def test_segment_ptr_inconsistent_with_x():
    with pytest.raises(ValueError, match="ptr must end at 4"):
        fastgnn.segment_reduce(np.ones((4, 2)), [0, 2, 3])


def test_segment_ptr_not_starting_at_zero():
    with pytest.raises(ValueError, match="ptr must start at 0"):
        fastgnn.segment_reduce(np.ones((4, 2)), [1, 4])


def test_segment_ptr_with_nan():
    with pytest.raises(TypeError, match="ptr must have an integer dtype"):
        fastgnn.segment_reduce(np.ones((4, 2)), np.array([0.0, np.nan, 4.0]))


def test_segment_unknown_reduce():
    with pytest.raises(ValueError, match="reduce must be one of"):
        fastgnn.segment_reduce(np.ones((4, 2)), [0, 4], "prod")


def test_segment_x_wrong_dtype():
    with pytest.raises(TypeError, match="x must have dtype"):
        fastgnn.segment_reduce(np.ones((4, 2), dtype=np.int64), [0, 4])


def test_segment_backward_grad_out_inconsistent_with_ptr():
    with pytest.raises(ValueError, match="ptr must have length num_segments"):
        fastgnn.segment_reduce_backward(np.ones((3, 2)), [0, 2, 4])


def test_segment_backward_grad_out_wrong_rank():
    with pytest.raises(ValueError, match="grad_out must be 1-D or 2-D"):
        fastgnn.segment_reduce_backward(np.ones((2, 2, 1)), [0, 2, 4])


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_segment_backward_without_arg(reduce):
    with pytest.raises(ValueError, match="arg is required"):
        fastgnn.segment_reduce_backward(np.ones((2, 2)), [0, 2, 4], reduce)


# ---------------------------------------------------------------- edge_dot

def test_edge_dot_a_wrong_rows(graph):
    with pytest.raises(ValueError, match="a must have 4 rows"):
        fastgnn.edge_dot(graph, np.ones((3, 2)), np.ones((3, 2)))


def test_edge_dot_b_wrong_width(graph):
    with pytest.raises(ValueError, match="b has 3 features but a has 2"):
        fastgnn.edge_dot(graph, np.ones((4, 2)), np.ones((3, 3)))


def test_edge_dot_b_wrong_dtype(graph):
    with pytest.raises(TypeError, match="b has dtype float32 but a has float64"):
        fastgnn.edge_dot(graph, np.ones((4, 2)), np.ones((3, 2), dtype=np.float32))


def test_edge_dot_backward_grad_out_wrong_shape(graph):
    with pytest.raises(ValueError, match=r"grad_out must have shape \(5,\)"):
        fastgnn.edge_dot_backward(graph, np.ones(4), np.ones((4, 2)), np.ones((3, 2)))


def test_arg_not_of_its_row_on_the_parallel_path(graph, monkeypatch):
    from fastgnn._runtime import threads as _threads
    from fastgnn._kernels import _common

    if not _common.openmp_enabled():
        pytest.skip("serial build: there is no parallel path")
    monkeypatch.setattr(_threads, "PARALLEL_WORK_THRESHOLD", 0)
    _, arg = fastgnn.aggregate(graph, np.ones((3, 2)), "max", return_arg=True)
    arg = arg.copy()
    arg[0, 0] = 4  # an edge of row 3, not of row 0
    with pytest.raises(ValueError, match="arg contains 1 entries that are not an edge of their row"):
        fastgnn.aggregate_backward(graph, np.ones((4, 2)), "max", arg=arg, n_threads=2)
