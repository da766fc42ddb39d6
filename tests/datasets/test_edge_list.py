"""Edge-list text files: read_edge_list / write_edge_list."""
import gzip

import numpy as np
import pytest

from conversion_cases import assert_same_edges, case_graph, graph_params, symmetric
from fastgnn import Graph
from fastgnn.datasets import read_edge_list, write_edge_list


@pytest.mark.parametrize("suffix", [".txt", ".tsv", ".csv", ".csv.gz", ".edges.gz"])
@pytest.mark.parametrize("weight_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, weighted", graph_params())
def test_round_trip_is_exact(tmp_path, name, weighted, weight_dtype, suffix):
    graph = case_graph(name, weighted, weight_dtype)
    path = tmp_path / f"graph{suffix}"
    write_edge_list(path, graph)
    back = read_edge_list(path, num_nodes=graph.num_nodes, weight_dtype=weight_dtype)
    assert back == graph  # same CSR and edge order, weights bit for bit


@pytest.mark.parametrize("header", [True, False])
def test_round_trip_with_header_and_index_dtype(tmp_path, header, index_dtype):
    graph = case_graph("duplicates", weighted=True)
    write_edge_list(tmp_path / "g.csv", graph, header=header)
    assert (tmp_path / "g.csv").read_text().startswith("source,destination,weight\n" if header else "0,1,")
    back = read_edge_list(tmp_path / "g.csv", index_dtype=index_dtype)
    assert back == graph and back.index_dtype == index_dtype


def test_formats_comments_and_blank_lines(tmp_path):
    (tmp_path / "a.txt").write_text("# a SNAP-style file\n# FromNodeId\tToNodeId\n0\t1\n\n  1 2\n2\t0\n")
    graph = read_edge_list(tmp_path / "a.txt")
    assert graph.edge_weight is None and graph.num_nodes == 3
    np.testing.assert_array_equal(graph.to_edge_index(), [[2, 0, 1], [0, 1, 2]])
    (tmp_path / "b.csv").write_text("src,dst,w\n0,1,0.5\n1, 2 ,2.5\n")
    graph = read_edge_list(tmp_path / "b.csv")
    np.testing.assert_array_equal(graph.edge_weight, np.float32([0.5, 2.5]))
    (tmp_path / "c.dat").write_text("0;1;7\n% a comment\n1;0;8\n")
    graph = read_edge_list(tmp_path / "c.dat", delimiter=";", comments="%", weighted=False)
    assert graph.edge_weight is None and graph.num_edges == 2


def test_header_inference_and_choices(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("10 20\n1 2\n")
    assert read_edge_list(path).num_edges == 2  # integers: no header
    assert read_edge_list(path, header=True).num_edges == 1
    path.write_text("source target\n1 2\n")
    assert read_edge_list(path).num_edges == 1
    with pytest.raises(ValueError, match="line 1: node ids must be integers"):
        read_edge_list(path, header=False)


def test_weighted_choices(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("0 1 0.5 1999\n1 0 1.5 2000\n")  # extra columns are ignored
    np.testing.assert_array_equal(read_edge_list(path).edge_weight, np.float32([1.5, 0.5]))
    assert read_edge_list(path, weighted=False).edge_weight is None
    path.write_text("0 1\n1 0\n")
    assert read_edge_list(path).edge_weight is None
    with pytest.raises(ValueError, match="line 1: expected a weight in the third column"):
        read_edge_list(path, weighted=True)
    path.write_text("0 1 2.0\n1 0\n")
    with pytest.raises(ValueError, match="line 2: expected a weight"):
        read_edge_list(path)


@pytest.mark.parametrize("name, weighted", graph_params())
def test_undirected_adds_reverse_edges(tmp_path, name, weighted):
    graph = case_graph(name, weighted, np.float64)
    write_edge_list(tmp_path / "g.txt", graph)
    back = read_edge_list(tmp_path / "g.txt", directed=False, num_nodes=graph.num_nodes, weight_dtype=np.float64)
    assert_same_edges(back, symmetric(graph))


def test_isolated_nodes_need_num_nodes(tmp_path):
    graph = case_graph("isolated_nodes")
    write_edge_list(tmp_path / "g.txt", graph)
    assert read_edge_list(tmp_path / "g.txt").num_nodes == 4
    assert read_edge_list(tmp_path / "g.txt", num_nodes=6) == graph


def test_gzip_is_compressed(tmp_path):
    graph = case_graph("star")
    write_edge_list(tmp_path / "g.tsv.gz", graph)
    with gzip.open(tmp_path / "g.tsv.gz", "rt") as file:
        assert file.readline() == "1\t0\n"
    assert read_edge_list(tmp_path / "g.tsv.gz", num_nodes=5) == graph


def test_write_unweighted_as_weighted(tmp_path):
    write_edge_list(tmp_path / "g.txt", case_graph("star"), weighted=True, delimiter=" ")
    assert (tmp_path / "g.txt").read_text().splitlines()[0] == "1 0 1.0"


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("text, message", [
    ("0 1\n2\n", r"line 2: expected 'source destination'"),
    ("0 1\n1.5 2\n", r"line 2: node ids must be integers, got '1.5' and '2'"),
    ("# c\n0 1\nfoo bar\n", r"line 3: node ids must be integers"),
    ("0 1\n-1 2\n", r"line 2: node ids must be non-negative"),
    ("0 1 1.0\n1 0 heavy\n", r"line 2: the weight must be a finite number, got 'heavy'"),
    ("0 1 1.0\n1 0 nan\n", r"line 2: the weight must be a finite number"),
    ("0 1 1.0\n1 0\n", r"line 2: expected a weight in the third column"),
    (f"0 1\n{2**63} 2\n", r"line 2: node ids must be non-negative integers below 2\*\*63"),
    ("0,1\n1,2\n", r"line 1: expected 'source destination', got '0,1'"),
])
def test_malformed_rows_name_the_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        read_edge_list(path)
    assert str(path) in str(info.value)


def test_bad_arguments(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("0 5\n")
    with pytest.raises(ValueError, match="node id 5 is out of range for num_nodes=3"):
        read_edge_list(path, num_nodes=3)
    with pytest.raises(ValueError, match="header must be"):
        read_edge_list(path, header="yes")
    with pytest.raises(ValueError, match="weighted must be"):
        read_edge_list(path, weighted="auto")
    with pytest.raises(ValueError, match="delimiter must be"):
        read_edge_list(path, delimiter="")
    with pytest.raises(TypeError, match="weight_dtype"):
        read_edge_list(path, weight_dtype=np.int32)
    with pytest.raises(FileNotFoundError):
        read_edge_list(tmp_path / "missing.txt")
    with pytest.raises(TypeError, match="graph must be a fastgnn.Graph"):
        write_edge_list(path, np.zeros((2, 2)))
    assert path.read_text() == "0 5\n"  # a refused write leaves the file alone


def test_comments_at_line_ends_and_the_line_parser_agree(tmp_path):
    from fastgnn.datasets import edge_list

    path = tmp_path / "g.txt"
    path.write_text("# header comment\nsrc dst w\n0 1 0.25  # first\n\n2 0 4 extra\n1 1 0.5\n")
    graph = read_edge_list(path, weight_dtype=np.float64)
    np.testing.assert_array_equal(graph.to_edge_index(), [[2, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(graph.edge_weight, [4.0, 0.25, 0.5])
    # the line-by-line parser (the fallback that names bad lines) reads the same rows as np.loadtxt
    fast = edge_list._read_fast(path, None, 2, True, "#")
    slow = edge_list._read_lines(path, None, 2, True, "#")
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)


def test_empty_file(tmp_path):
    (tmp_path / "g.txt").write_text("# nothing\n")
    graph = read_edge_list(tmp_path / "g.txt")
    assert graph.num_nodes == 0 and graph.num_edges == 0 and graph.edge_weight is None
    assert read_edge_list(tmp_path / "g.txt", weighted=True).edge_weight is not None


@pytest.mark.parametrize("weight_dtype, bits", [(np.float32, np.uint32), (np.float64, np.uint64)])
def test_weights_round_trip_bit_for_bit(tmp_path, weight_dtype, bits):
    rng = np.random.default_rng(0)
    weight = rng.integers(0, np.iinfo(bits).max, 20_000, dtype=bits).view(weight_dtype)
    weight = weight[np.isfinite(weight)]  # every finite bit pattern: subnormals, -0.0, huge and tiny values
    edge_index = rng.integers(0, 50, (2, weight.shape[0]))
    graph = Graph.from_edge_index(edge_index, num_nodes=50, edge_weight=weight)
    write_edge_list(tmp_path / "g.csv.gz", graph)
    back = read_edge_list(tmp_path / "g.csv.gz", num_nodes=50, weight_dtype=weight_dtype)
    assert np.array_equal(back.edge_weight.view(bits), graph.edge_weight.view(bits))
    assert back == graph
