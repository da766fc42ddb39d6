"""Graphs, adjacencies and comparisons shared by the PyTorch / PyG adapter tests."""
import torch


def random_edge_index(num_src, num_dst, num_edges, seed, duplicates=True, loops=True):
    """A random ``edge_index`` (row 0 sources), with exact duplicates and self-loops unless told not to."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_src, (num_edges,), generator=gen)
    dst = torch.randint(0, num_dst, (num_edges,), generator=gen)
    edge_index = torch.stack([src, dst])
    if not duplicates:
        # (torch's autograd through sparse-tensor constructors coalesces, so value gradients need unique entries)
        edge_index = torch.unique(edge_index, dim=1)
        edge_index = edge_index[:, torch.randperm(edge_index.shape[1], generator=gen)]
    if duplicates and num_edges >= 4:
        edge_index = torch.cat([edge_index, edge_index[:, :3]], dim=1)  # exact duplicate edges
    if loops and duplicates and num_src == num_dst:
        edge_index = torch.cat([edge_index, torch.tensor([[0, 1], [0, 1]])], dim=1)
    return edge_index


def csr_adjacency(edge_index, num_src, num_dst, values=None):
    """PyG's ``adj_t``: rows are destinations; built without coalescing (values per edge)."""
    order = torch.argsort(edge_index[1] * num_src + edge_index[0], stable=True)
    dst, src = edge_index[1][order], edge_index[0][order]
    crow = torch.zeros(num_dst + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(torch.bincount(dst, minlength=num_dst), 0)
    vals = torch.ones(src.numel()) if values is None else values[order]
    return torch.sparse_csr_tensor(crow, src, vals, size=(num_dst, num_src))


def assert_close(actual, expected, dtype=None):
    """Equal to float32 (1e-5) or float64 (1e-10) rounding, relative to the largest expected value."""
    dtype = expected.dtype if dtype is None else dtype
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    actual, expected = actual.detach(), expected.detach()
    scale = max(1.0, float(expected.abs().max())) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * scale)
