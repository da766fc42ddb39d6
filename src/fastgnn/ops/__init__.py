"""Public aggregation operations on arrays: validate, pick dtypes and threads, call a kernel.

Every function here accepts NumPy arrays (and array-likes) and a
:class:`fastgnn.Graph` (or, where named, a scipy sparse matrix). Inputs are
never modified. A copy is made only when an input is not C-contiguous, an
edge-weight array needs a cast to the feature dtype, or a feature array that
a kernel gathers rows from many times (more than two per row on average) is
not 64-byte aligned: NumPy aligns to 16 bytes, and a misaligned gather runs
up to twice as slow, so one O(N d) copy pays for itself. Outputs are 64-byte
aligned. No function allocates anything of size edges x features.

One module per op family (:mod:`fastgnn.ops.aggregation`,
:mod:`fastgnn.ops.segment`, :mod:`fastgnn.ops.edge`, :mod:`fastgnn.ops.attention`, :mod:`fastgnn.ops.sparse`,
:mod:`fastgnn.ops.dense` for the element-wise steps after a convolution, :mod:`fastgnn.ops.gat` for the
fused attention of GAT and GATv2), with the NumPy
reference of every op beside them (:mod:`fastgnn.ops.reference`, the test
oracle).
"""
from fastgnn.ops.aggregation import aggregate, aggregate_backward
from fastgnn.ops.attention import edge_softmax, edge_softmax_backward, sddmm, sddmm_backward
from fastgnn.ops.dense import (BiasActDropoutState, bias_act_dropout, bias_act_dropout_backward, dropout_keep_flat,
                               dropout_mask, softmax_cross_entropy_rows)
from fastgnn.ops.edge import edge_dot, edge_dot_backward
from fastgnn.ops.gat import (GATAttentionState, gat_attention, gat_attention_backward, gatv2_attention,
                             gatv2_attention_backward)
from fastgnn.ops.segment import segment_reduce, segment_reduce_backward
from fastgnn.ops.sparse import sparse_matmul, sparse_matmul_tn

__all__ = ["aggregate", "aggregate_backward", "segment_reduce", "segment_reduce_backward", "edge_dot",
           "edge_dot_backward", "sparse_matmul", "sparse_matmul_tn", "bias_act_dropout", "bias_act_dropout_backward",
           "BiasActDropoutState", "dropout_mask", "dropout_keep_flat", "softmax_cross_entropy_rows",
           "sddmm", "sddmm_backward", "edge_softmax", "edge_softmax_backward",
           "gat_attention", "gat_attention_backward", "gatv2_attention", "gatv2_attention_backward",
           "GATAttentionState"]
