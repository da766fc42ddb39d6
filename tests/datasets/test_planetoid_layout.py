"""Planetoid's folder lookup: the raw files directly in root, in root/raw, or in PyG's root/<Name>/raw, any case."""
import pathlib
import shutil

import numpy as np
import pytest

from fastgnn.datasets import Planetoid, load_cora

REPO = pathlib.Path(__file__).resolve().parents[2]
CORA_RAW = REPO.parent / "shared" / "data" / "planetoid" / "cora"
needs_cora = pytest.mark.skipif(not (CORA_RAW / "ind.cora.graph").is_file(),
                                reason=f"raw Cora files not found in {CORA_RAW}")


def _place(root, *parts):
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    for file in CORA_RAW.glob("ind.cora.*"):
        shutil.copy(file, folder / file.name)
    return folder


@needs_cora
@pytest.mark.parametrize("parts", [(), ("raw",), ("Cora", "raw"), ("cora", "raw"), ("CORA",), ("cora",),
                                   ("Cora", "RAW"), ("RAW",)],
                         ids=lambda parts: "/".join(parts) or "root")
def test_layouts_are_found(tmp_path, parts):
    folder = _place(tmp_path, *parts)
    dataset = Planetoid(tmp_path, "Cora")
    assert pathlib.Path(dataset.root) == folder
    reference = load_cora()
    assert dataset.graph == reference.graph
    np.testing.assert_array_equal(dataset.x, reference.x)
    np.testing.assert_array_equal(dataset.y, reference.y)


@needs_cora
def test_pyg_layout_name_in_any_case(tmp_path):
    _place(tmp_path, "Cora", "raw")
    for name in ("cora", "Cora", "CORA"):
        assert Planetoid(tmp_path, name).num_nodes == 2708


@needs_cora
def test_exact_spelling_wins_over_other_cases(tmp_path):
    (tmp_path / "Cora" / "raw").mkdir(parents=True)  # an empty PyG folder
    exact = _place(tmp_path, "cora")
    if (tmp_path / "Cora").samefile(exact):
        pytest.skip("the file system ignores case")
    assert pathlib.Path(Planetoid(tmp_path, "cora").root) == exact


def test_missing_files_list_where_it_looked(tmp_path):
    (tmp_path / "CiteSeer" / "raw").mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as info:
        Planetoid(tmp_path, "citeseer")
    message = str(info.value)
    assert "ind.citeseer.x" in message
    for folder in (tmp_path, tmp_path / "raw", tmp_path / "CiteSeer", tmp_path / "CiteSeer" / "raw"):
        assert str(folder) in message
    assert "any case" in message


def test_a_file_named_like_the_folder_is_not_a_folder(tmp_path):
    (tmp_path / "cora").write_text("not a folder")
    with pytest.raises(FileNotFoundError, match="ind.cora.x"):
        Planetoid(tmp_path, "cora")


@needs_cora
def test_cli_data_root_accepts_pyg_layout(tmp_path, capsys):
    from fastgnn.cli import main

    _place(tmp_path, "Cora", "raw")
    status = main(["train", "--dataset", "cora", "--data-root", str(tmp_path), "--epochs", "1", "--quiet"])
    assert status in (0, None), capsys.readouterr().err
