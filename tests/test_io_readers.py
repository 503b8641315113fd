"""The reader registry: a reader registered by its name endings is what discover, load_volume
and the file dialog use, without naming the format anywhere else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ctviewer.errors import InputError
from ctviewer.io import discover, load_volume, readers
from ctviewer.volume import SeriesInfo, Volume


def _describe(path: str) -> SeriesInfo:
    return SeriesInfo(path, None, "CT", Path(path).name, [path], 3, 4, 5, (1.0, 1.0, 1.0),
                      kind="fake")  # fmt: skip


def _read(path: str) -> Volume:
    if Path(path).read_text() != "ok":
        raise InputError("bad fake file", path)
    return Volume(array=np.full((3, 4, 5), 7.0, np.float32), spacing=(1.0, 1.0, 1.0), source=path)


@pytest.fixture
def fake_reader(monkeypatch: pytest.MonkeyPatch) -> readers.FileReader:
    reader = readers.FileReader("fake", "Fake volume", (".fake",), _describe, _read)
    monkeypatch.setitem(readers._READERS, "fake", reader)
    return reader


def test_a_registered_reader_is_found_by_name_and_used(fake_reader, tmp_path: Path) -> None:
    path = tmp_path / "scan.FAKE"
    path.write_text("ok")
    assert (
        readers.reader_for(path) is fake_reader and readers.reader_for(tmp_path / "a.dcm") is None
    )
    index = discover(tmp_path)
    (series,) = index.all_series()
    assert series.kind == "fake" and series.n_images == 3
    assert float(load_volume(path).array.mean()) == 7.0
    assert "*.fake" in readers.file_dialog_filter().split(";;")[0]
    assert "Fake volume (*.fake)" in readers.file_dialog_filter()


def test_built_in_readers_are_registered() -> None:
    kinds = {r.kind for r in readers.readers()}
    assert {"nifti", "image"} <= kinds
    assert readers.reader_for("x.nii.gz").kind == "nifti"
    assert readers.reader_for("x.JPG").kind == "image"
