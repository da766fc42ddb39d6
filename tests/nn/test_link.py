"""Link scorers: dense references, pair order, bipartite inputs, finite-difference gradients."""
import numpy as np
import pytest

from fastgnn.nn import DotProductScorer, MLPScorer
from fastgnn.testing import check_module_grad


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def pairs(rng, num_src, num_dst, num):
    return np.stack([rng.integers(0, num_src, num), rng.integers(0, num_dst, num)])


@pytest.mark.parametrize("use_sigmoid", [True, False])
def test_dot_product_matches_dense(rng, float_dtype, use_sigmoid):
    h = rng.standard_normal((9, 5)).astype(float_dtype)
    edge_index = pairs(rng, 9, 9, 40)                      # unsorted, with repeats
    out = DotProductScorer(sigmoid=use_sigmoid)(h, edge_index)
    logits = (h.astype(np.float64) @ h.T.astype(np.float64))[edge_index[0], edge_index[1]]
    expected = sigmoid(logits) if use_sigmoid else logits
    assert out.dtype == float_dtype and out.shape == (40,)
    np.testing.assert_allclose(out, expected, rtol=1e-5 if float_dtype == np.float32 else 1e-12, atol=1e-6)


def test_dot_product_bipartite_pair_input(rng):
    h_src, h_dst = rng.standard_normal((4, 3)), rng.standard_normal((7, 3))
    edge_index = pairs(rng, 4, 7, 20)
    out = DotProductScorer(sigmoid=False)((h_src, h_dst), edge_index)
    np.testing.assert_allclose(out, np.einsum("pk,pk->p", h_src[edge_index[0]], h_dst[edge_index[1]]))


def test_empty_pairs(rng):
    h = rng.standard_normal((3, 2))
    scorer = DotProductScorer()
    assert scorer(h, np.zeros((2, 0), np.int64)).shape == (0,)
    np.testing.assert_array_equal(scorer.backward(np.zeros(0)), np.zeros((3, 2)))
    mlp = MLPScorer(2, rng=0, dtype=np.float64)
    assert mlp(h, np.zeros((2, 0), np.int64)).shape == (0,)
    np.testing.assert_array_equal(mlp.backward(np.zeros(0)), np.zeros((3, 2)))


@pytest.mark.parametrize("use_sigmoid", [True, False])
def test_dot_product_gradients(rng, use_sigmoid):
    scorer = DotProductScorer(sigmoid=use_sigmoid)
    h = rng.standard_normal((8, 4))
    check_module_grad(scorer, h, pairs(rng, 8, 8, 30))
    h_src, h_dst = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    check_module_grad(scorer, (h_src, h_dst), pairs(rng, 5, 3, 12))


@pytest.mark.parametrize("combine", ["hadamard", "concat"])
def test_mlp_scorer_matches_manual(rng, combine):
    scorer = MLPScorer(4, 6, num_layers=2, combine=combine, sigmoid=True, rng=1, dtype=np.float64)
    h = rng.standard_normal((7, 4))
    edge_index = pairs(rng, 7, 7, 25)
    a, b = h[edge_index[0]], h[edge_index[1]]
    combined = a * b if combine == "hadamard" else np.concatenate([a, b], axis=1)
    first, second = scorer.mlp[0], scorer.mlp[2]
    hidden = np.maximum(combined @ first.weight.data.T + first.bias.data, 0)
    expected = sigmoid(hidden @ second.weight.data.T + second.bias.data)[:, 0]
    np.testing.assert_allclose(scorer(h, edge_index), expected, rtol=1e-12)


@pytest.mark.parametrize("combine", ["hadamard", "concat"])
@pytest.mark.parametrize("use_sigmoid", [True, False])
def test_mlp_scorer_gradients(rng, combine, use_sigmoid):
    scorer = MLPScorer(3, 5, num_layers=3, combine=combine, sigmoid=use_sigmoid, activation="tanh", rng=2,
                       dtype=np.float64)
    check_module_grad(scorer, rng.standard_normal((6, 3)), pairs(rng, 6, 6, 20))
    check_module_grad(scorer, (rng.standard_normal((4, 3)), rng.standard_normal((5, 3))), pairs(rng, 4, 5, 11))


def test_hadamard_is_symmetric_concat_is_not(rng):
    h = rng.standard_normal((5, 3)).astype(np.float32)
    edge_index = pairs(rng, 5, 5, 10)
    for combine, symmetric in (("hadamard", True), ("concat", False)):
        scorer = MLPScorer(3, combine=combine, rng=0).eval()
        same = np.allclose(scorer(h, edge_index), scorer(h, edge_index[::-1]))
        assert same == symmetric


def test_eval_mode_keeps_nothing(rng):
    h = rng.standard_normal((5, 3))
    for scorer in (DotProductScorer(), MLPScorer(3, rng=0, dtype=np.float64)):
        scorer.eval()
        scorer(h, pairs(rng, 5, 5, 4))
        assert not scorer.has_cache()
        with pytest.raises(RuntimeError, match="eval mode"):
            scorer.backward(np.ones(4))


def test_bad_input(rng):
    h = rng.standard_normal((5, 3))
    scorer = DotProductScorer()
    with pytest.raises(ValueError, match="shape"):
        scorer(h, np.zeros((3, 2), np.int64))
    with pytest.raises(TypeError, match="integer"):
        scorer(h, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="edge_index"):
        scorer(h, np.array([[0, 5], [1, 1]]))
    with pytest.raises(ValueError, match="features"):
        scorer((h, rng.standard_normal((5, 4))), np.array([[0], [1]]))
    with pytest.raises(TypeError, match="float"):
        scorer(np.ones((5, 3), int), np.array([[0], [1]]))
    with pytest.raises(ValueError, match="outside"):
        MLPScorer(3, rng=0)(h, np.array([[0, 5], [1, 1]]))
    with pytest.raises(ValueError, match="in_channels"):
        MLPScorer(4, rng=0)(h, np.array([[0], [1]]))
    with pytest.raises(ValueError, match="combine"):
        MLPScorer(3, combine="sum")
    scorer(h, np.array([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="shape"):
        scorer.backward(np.ones(3))
