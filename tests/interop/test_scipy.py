"""fastgnn.interop.scipy.as_linear_operator against scipy's own sparse products and eigsh."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import fastgnn
from fastgnn.interop.scipy import GraphOperator, as_linear_operator


def _graph(seed=0, num_src=30, num_dst=30, num_edges=150, symmetric=False):
    rng = np.random.default_rng(seed)
    src, dst = rng.integers(0, num_src, num_edges), rng.integers(0, num_dst, num_edges)
    dst[:3] = dst[0]  # a few duplicate destinations
    if symmetric:
        src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    return fastgnn.Graph.from_edge_index(np.stack([src, dst]), num_src_nodes=num_src, num_dst_nodes=num_dst,
                                         num_nodes=max(num_src, num_dst))


def _mean_matrix(matrix):
    counts = np.diff(matrix.indptr).astype(np.float64)
    scale = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    return sp.diags(scale) @ matrix


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(30, 30), (40, 12), (9, 25)])
def test_products_match_scipy(reduce, dtype, shape):
    graph = _graph(num_src=shape[1], num_dst=shape[0])
    weight = np.random.default_rng(1).uniform(-1, 2, graph.num_edges)
    op = as_linear_operator(graph, reduce, edge_weight=weight, dtype=dtype)
    matrix = sp.csr_matrix((weight, graph.indices, graph.indptr), shape=shape)
    if reduce == "mean":
        matrix = _mean_matrix(matrix)
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((shape[1], 4)), rng.standard_normal((shape[0], 4))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert op.shape == shape and op.dtype == dtype
    for actual, expected in [(op @ X, matrix @ X), (op.matmat(X), matrix @ X), (op @ X[:, 0], matrix @ X[:, 0]),
                             (op.matvec(X[:, 1]), matrix @ X[:, 1]), (op.rmatvec(Y[:, 0]), matrix.T @ Y[:, 0]),
                             (op.rmatmat(Y), matrix.T @ Y), (op.T @ Y, matrix.T @ Y), (op.H @ Y, matrix.T @ Y),
                             (op.T.T @ X, matrix @ X), (op.H.rmatvec(X[:, 0]), matrix @ X[:, 0])]:
        assert actual.dtype == dtype
        np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * 10)


def test_accepts_a_scipy_matrix_and_uses_the_graphs_own_weights():
    matrix = sp.random(20, 20, density=0.2, random_state=3, format="coo") + sp.eye(20)
    op = as_linear_operator(matrix)
    X = np.random.default_rng(4).standard_normal((20, 3))
    np.testing.assert_allclose(op @ X, matrix @ X, rtol=1e-12, atol=1e-12)
    graph = fastgnn.Graph.from_scipy(matrix)
    np.testing.assert_allclose(as_linear_operator(graph) @ X, matrix @ X, rtol=1e-6, atol=1e-6)  # float32 weights


def test_casts_inputs_and_handles_complex_vectors():
    graph = _graph(seed=5)
    op = as_linear_operator(graph, dtype=np.float64)
    matrix = graph.to_scipy().astype(np.float64)
    x = np.arange(30, dtype=np.int64)
    np.testing.assert_allclose(op @ x, matrix @ x)
    z = np.random.default_rng(6).standard_normal(30) * (1 + 2j)
    np.testing.assert_allclose(op @ z, matrix @ z, rtol=1e-12)


def test_eigsh_on_the_gcn_normalization():
    graph = _graph(seed=7, num_src=60, num_dst=60, num_edges=200, symmetric=True)
    normalized = graph.gcn_norm(dtype=np.float64)
    op = as_linear_operator(normalized)
    matrix = normalized.to_scipy().astype(np.float64)
    assert abs(matrix - matrix.T).max() < 1e-12  # symmetric
    values, vectors = sla.eigsh(op, k=5, which="LA", tol=1e-10)
    expected = sla.eigsh(matrix, k=5, which="LA", tol=1e-10)[0]
    np.testing.assert_allclose(np.sort(values), np.sort(expected), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(values[-1], 1.0, atol=1e-8)  # the top eigenvalue of D^-1/2 (A+I) D^-1/2
    np.testing.assert_allclose(op @ vectors, vectors * values, atol=1e-7)
    # the Laplacian I - A_hat, as an operator sum
    laplacian = sla.aslinearoperator(sp.eye(60)) - op
    smallest = sla.eigsh(laplacian, k=2, which="SA", tol=1e-10)[0]
    np.testing.assert_allclose(smallest.min(), 0.0, atol=1e-7)


def test_solvers_and_svds_run_on_the_operator():
    graph = _graph(seed=8, num_src=25, num_dst=40, num_edges=160)
    op = as_linear_operator(graph)
    matrix = graph.to_scipy().astype(np.float64)
    expected = sla.svds(matrix, k=3, random_state=0)[1]
    np.testing.assert_allclose(np.sort(sla.svds(op, k=3, random_state=0)[1]), np.sort(expected), rtol=1e-8)
    b = np.random.default_rng(9).standard_normal(40)
    solution = sla.lsqr(op, b, atol=1e-12, btol=1e-12)[0]
    np.testing.assert_allclose(solution, sla.lsqr(matrix, b, atol=1e-12, btol=1e-12)[0], rtol=1e-6, atol=1e-8)


def test_threads_give_identical_products():
    graph = _graph(seed=10, num_src=3000, num_dst=3000, num_edges=60000)
    X = np.random.default_rng(11).standard_normal((3000, 16))
    results = [as_linear_operator(graph, n_threads=t) @ X for t in (1, 2, 3)]
    assert all(r.tobytes() == results[0].tobytes() for r in results)


def test_bad_arguments():
    graph = _graph()
    with pytest.raises(ValueError, match="reduce must be 'sum' or 'mean'"):
        as_linear_operator(graph, "max")
    with pytest.raises(ValueError, match="reduce"):
        as_linear_operator(graph, "prod")
    with pytest.raises(TypeError, match="dtype"):
        as_linear_operator(graph, dtype=np.int64)
    with pytest.raises(TypeError, match="dtype"):
        as_linear_operator(graph, dtype="nonsense")
    with pytest.raises(TypeError, match="graph"):
        as_linear_operator(np.eye(3))
    with pytest.raises(ValueError, match="edge_weight"):
        as_linear_operator(graph, edge_weight=np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        as_linear_operator(graph, edge_weight=np.full(graph.num_edges, np.nan))
    with pytest.raises(ValueError):
        as_linear_operator(graph, n_threads=0)
    op = as_linear_operator(graph)
    assert isinstance(op, GraphOperator) and "GraphOperator" in repr(op)
    with pytest.raises(ValueError):
        op @ np.ones(7)


def test_readme_backend_examples_run():
    """The code blocks of the README's "Using fastgnn as a backend" section run as written."""
    import pathlib
    import re
    import warnings

    readme = pathlib.Path(__file__).resolve().parents[2] / "README.md"
    if not readme.exists():
        pytest.skip("README.md not found next to the tests")
    section = readme.read_text().split("## Using fastgnn as a backend", 1)
    assert len(section) == 2, "the README lost its backend section"
    blocks = re.findall(r"```python\n(.*?)```", section[1].split("\n## ", 1)[0], re.S)
    assert len(blocks) >= 2
    for block in blocks:
        if "torch" in block:
            pytest.importorskip("torch")
            pytest.importorskip("torch_geometric")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(block, str(readme), "exec"), {})
