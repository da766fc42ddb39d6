"""The cluster cost model of :mod:`fastgnn.bench.cost_model`: its counts and its arithmetic."""
import pytest

from fastgnn.bench.cost_model import gcn_epoch_work, projected_epoch


def test_gcn_work_counts_every_layer():
    work = gcn_epoch_work(100, 128, 47)
    # layer 0 aggregates the 100 input features forward only; layer 1 transforms first and sums 47 wide both ways
    assert work["aggregated_widths"] == 100 + 2 * 47
    assert work["row_macs"] == 2 * 100 * 128 + 3 * 128 * 47
    assert work["exchanged_widths"] == 128                   # the hidden rows; the input is fetched once per run
    assert work["parameters"] == 100 * 128 + 128 + 128 * 47 + 47
    three = gcn_epoch_work(16, 32, 4, num_layers=3)
    assert three["aggregated_widths"] == 16 + 2 * 32 + 2 * 4
    assert three["exchanged_widths"] == 32 + 32


def test_projection_is_the_sum_of_its_parts():
    args = dict(num_nodes=1_000_000, num_edges=20_000_000, num_features=100, hidden=128, num_classes=47,
                halo_fraction=0.5, bandwidth_gbit=8, edge_seconds=1e-9, row_seconds=2e-9)
    work = gcn_epoch_work(100, 128, 47)
    one, four = projected_epoch(ranks=1, **args), projected_epoch(ranks=4, **args)
    compute = 1e-9 * 20e6 * work["aggregated_widths"] + 2e-9 * 1e6 * work["row_macs"]
    assert one["compute_seconds"] == pytest.approx(compute)
    assert four["compute_seconds"] == pytest.approx(compute / 4)          # linear scaling
    assert four["exchange_bytes"] == pytest.approx(2 * 0.5 * 1e6 / 4 * 128 * 4)
    assert four["exchange_seconds"] == pytest.approx(four["exchange_bytes"] / 1e9)   # 8 Gbit/s = 1 GB/s
    assert one["allreduce_bytes"] == 0
    assert four["allreduce_bytes"] == 2 * 3 * work["parameters"] * 8
    assert four["epoch_seconds"] == pytest.approx(four["compute_seconds"] + four["exchange_seconds"]
                                                  + four["allreduce_seconds"])
    faster = projected_epoch(ranks=4, **dict(args, bandwidth_gbit=80))
    assert faster["exchange_seconds"] == pytest.approx(four["exchange_seconds"] / 10)


@pytest.mark.parametrize("change, name", [(dict(ranks=0), "ranks"), (dict(halo_fraction=-1), "halo_fraction"),
                                          (dict(bandwidth_gbit=0), "bandwidth_gbit"),
                                          (dict(num_edges=1.5), "num_edges"), (dict(hidden=True), "hidden")])
def test_bad_arguments_name_themselves(change, name):
    args = dict(num_nodes=10, num_edges=20, num_features=3, hidden=4, num_classes=2, ranks=2, halo_fraction=0.1,
                bandwidth_gbit=1, edge_seconds=1e-9, row_seconds=1e-9)
    args.update(change)
    with pytest.raises(ValueError, match=name):
        projected_epoch(**args)
