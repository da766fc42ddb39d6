"""``fastgnn train --load``: damaged or hostile ``.npz`` files are one line on stderr and exit status 2.

The files that could exhaust memory run the command in a child process
with a capped address space (see ``cli_run``).
"""
import argparse
import json
import zipfile

import numpy as np
import pytest

from cli_run import (assert_one_line_error, deflated, deflated_zeros, npy_header, run_cli, write_zip)
from fastgnn.cli import main
from fastgnn.cli import node
from fastgnn.cli.node import CommandError

FIRST = "convs.0.lin.weight"        # GCN on Cora: (16, 1433) float32, then convs.1.lin.weight (7, 16)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Weights of a 1-epoch GCN on Cora written by ``--save``."""
    path = tmp_path_factory.mktemp("weights") / "gcn.npz"
    assert main(["train", "--epochs", "1", "--save", str(path), "--quiet"]) == 0
    return path


def second_member(saved):
    with np.load(saved) as data:
        weight = data["convs.1.lin.weight"]
    return deflated(npy_header(weight.shape) + weight.astype("<f4").tobytes())


def test_truncated_npz(saved, tmp_path):
    path = tmp_path / "truncated.npz"
    path.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    assert_one_line_error(run_cli("--load", path, "--quiet"), "--load", path)


def test_bit_flipped_array_data(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo(FIRST + ".npy")
    data[info.header_offset + 30 + len(info.filename) + 1000] ^= 0x10       # inside the stored array
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(data))
    line = assert_one_line_error(run_cli("--load", path, "--quiet"), "--load", path)
    assert "CRC" in line


def test_tiny_file_whose_header_claims_37_gib(saved, tmp_path):
    path = tmp_path / "huge.npz"
    write_zip(path, {FIRST + ".npy": deflated(npy_header((100_000, 100_000)) + bytes(64)),
                     "convs.1.lin.weight.npy": second_member(saved)})
    assert path.stat().st_size < 2000
    line = assert_one_line_error(run_cli("--load", path, "--quiet"), "--load", path, FIRST)
    assert "(100000, 100000)" in line and "(16, 1433)" in line


def test_plain_npy_whose_header_claims_37_gib(tmp_path):
    path = tmp_path / "huge.npy"        # not a zip: np.load would read it as one array
    path.write_bytes(npy_header((100_000, 100_000)) + bytes(64))
    assert_one_line_error(run_cli("--load", path, "--quiet"), "--load", path)


def test_zip_bomb(saved, tmp_path):
    # 1.25 GiB of zeros in a few kilobytes, under a header that matches the
    # size: reading it would exceed the child's memory cap.
    size = 5 << 28
    path = tmp_path / "bomb.npz"
    write_zip(path, {FIRST + ".npy": deflated_zeros(npy_header((16, size // 64)), size),
                     "convs.1.lin.weight.npy": second_member(saved)})
    assert path.stat().st_size < 2 << 20
    assert_one_line_error(run_cli("--load", path, "--quiet", timeout=60), "--load", path, FIRST)


def test_member_declaring_more_bytes_than_its_header(saved, tmp_path):
    # The right header, then 256 MiB of zeros the model has no use for.
    path = tmp_path / "padded.npz"
    write_zip(path, {FIRST + ".npy": deflated_zeros(npy_header((16, 1433)), 1 << 28),
                     "convs.1.lin.weight.npy": second_member(saved)})
    assert_one_line_error(run_cli("--load", path, "--quiet"), "--load", path, FIRST)


def test_member_declaring_fewer_bytes_than_its_header(saved, tmp_path):
    path = tmp_path / "short.npz"
    write_zip(path, {FIRST + ".npy": deflated(npy_header((16, 1433)) + bytes(100)),
                     "convs.1.lin.weight.npy": second_member(saved)})
    assert_one_line_error(run_cli("--load", path, "--quiet"), "--load", path, FIRST)


def test_object_array_is_refused(saved, tmp_path, capsys):
    path = tmp_path / "object.npz"
    with np.load(saved) as data:
        arrays = dict(data)
    arrays[FIRST] = np.empty((16, 1433), dtype=object)
    np.savez(path, **arrays)
    assert main(["train", "--load", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--load" in err and FIRST in err


@pytest.mark.parametrize("what", ["directory", "missing", "empty"])
def test_not_a_file_of_weights(tmp_path, capsys, what):
    path = tmp_path / what
    if what == "directory":
        path.mkdir()
    elif what == "empty":
        path.write_bytes(b"")
    assert main(["train", "--load", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--load" in err and str(path) in err


def test_every_flipped_byte_is_an_error_or_loads(saved, tmp_path):
    """A bit flip anywhere in the file loads (a field nobody checks) or raises the command's error, nothing else."""
    data = saved.read_bytes()
    settings = node.resolve_settings(node.add_arguments(argparse.ArgumentParser()).parse_args([]))
    config = dict(settings["config"], model="gcn", in_channels=1433, out_channels=7)
    model, _ = node.build(config, 0)
    path = tmp_path / "flipped.npz"
    with zipfile.ZipFile(saved) as archive:
        # Each member's zip and .npy headers, then its array data.
        bulk = [(info.header_offset + 30 + len(info.filename) + 128, info.header_offset + 30 + len(info.filename)
                 + info.file_size) for info in archive.infolist()]
    # Every byte of the headers and the zip directory (where the variety of
    # exceptions lies), and a stride through the arrays (any flip there is a CRC error).
    positions = [p for p in range(len(data)) if not any(a <= p < b for a, b in bulk) or p % 499 == 0]
    for position in positions:
        flipped = bytearray(data)
        flipped[position] ^= 0x41
        path.write_bytes(bytes(flipped))
        try:
            node.load_weights(model, str(path), config)
        except CommandError as error:
            assert "\n" not in str(error) and "--load" in str(error), (position, error)


def test_epochs_0_with_load_evaluates_the_loaded_weights(saved, capsys):
    assert main(["train", "--load", str(saved), "--epochs", "0", "--quiet", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["epochs"] == 0 and result["loaded"] == str(saved)


@pytest.mark.parametrize("task, option", [
    (["--task", "link"], "--load"),
    (["--task", "graph", "--dataset", "MUTAG", "--data-root", "."], "--load"),
    (["--task", "graph", "--dataset", "MUTAG", "--data-root", "."], "--save"),
])
def test_other_tasks_refuse_load_and_save(saved, capsys, task, option):
    # They read or write no such weights: silently training from scratch (or
    # not saving) would lose what was asked for. (The link task saves its
    # autoencoder, a pretrained encoder for the node task.) The parser refuses
    # them, as any option of another task.
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *task, option, str(saved), "--epochs", "1", "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err and "--task node" in err
