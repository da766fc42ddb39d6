"""The scaling sweep of ``bench/scaling.py`` on a tiny graph: what it prints and records (no timing asserted)."""
import io
import json

import pytest

import scaling


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(scaling.SWEEP_GRAPHS, "tiny", (300, 3000))
    return "tiny"


def test_sweep_prints_ns_per_edge_and_fraction_of_floor(tiny, tmp_path):
    out = io.StringIO()
    path = tmp_path / "sweep.jsonl"
    records = scaling.run(graphs=[tiny], dims=[16, 20], threads=[2, 1], repeat=1, budget_s=0.5,
                          json_path=str(path), file=out)
    text = out.getvalue()
    assert "STREAM triad" in text and "3 arrays x 8 bytes" in text and "ns/e" in text
    assert len(records) == 2 * 2 * len(scaling.MEASURES)
    assert [json.loads(line) for line in path.read_text().splitlines()] == json.loads(json.dumps(records))
    for rec in records:
        assert rec["ns_per_edge"] == pytest.approx(rec["median_ms"] * 1e6 / 3000)
        if rec["impl"] == "floor":
            assert "fraction_of_floor" not in rec
        else:
            assert rec["fraction_of_floor"] == pytest.approx(rec["floor_ms"] / rec["median_ms"])
    rows = [line for line in text.splitlines() if line.startswith("tiny 0.00M/0.0M")]
    assert len(rows) == 4 and all(line.count("%") == 3 for line in rows)


def test_sweep_graph_is_lean_and_transposed(tiny):
    graph = scaling.build(tiny)
    assert graph.num_nodes == 300 and graph.num_edges == 3000 and graph.index_dtype == "int32"
    assert graph.transpose_csr()[0].shape == (301,)
