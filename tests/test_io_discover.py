"""Discovery from headers: series, stacks, set-aside reasons, DICOMDIR, errors, `ctviewer info`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from ctviewer.cli.main import main
from ctviewer.errors import InputError
from ctviewer.io import discover, load_series, load_volume
from ctviewer.volume import StudyIndex


def reasons(index: StudyIndex) -> dict[str, str]:
    return {Path(item.path).name: item.reason for item in index.set_aside}


@pytest.fixture(scope="module")
def all_dicom(shared_data: Path) -> StudyIndex:
    return discover(shared_data / "dicom")


@pytest.mark.shared_data
def test_every_ct_series_found_with_counts(all_dicom: StudyIndex) -> None:
    counts = {}
    for series in all_dicom.all_series():
        folder = Path(series.files[0]).parent.name
        counts.setdefault(folder, []).append(series.n_images)
    assert sorted(counts["cq500_head_jpegls_tilt"]) == [1, 238]
    assert counts["dcm_qa_ct_ge_tilt"] == [28]
    assert counts["S2010"] == [28]
    assert "S1000" not in counts and "S4010" not in counts
    assert counts["example_ct_dicom"] == [20]  # blank UIDs: still one series
    assert counts["pydicom_data"].count(2) == 1  # the enhanced multi-frame file


@pytest.mark.shared_data
def test_philips_exam_localizers_and_captures_set_aside(shared_data: Path) -> None:
    index = discover(shared_data / "dicom/dcm_qa_ct_philips_exam")
    (series,) = index.all_series()
    assert (series.n_images, series.description, series.modality) == (28, "STD BRAIN 5MM", "CT")
    assert series.spacing is not None and series.spacing[0] == pytest.approx(5.0)
    why = {str(Path(i.path).relative_to(index.root)): i.reason for i in index.set_aside}
    assert "localizer" in why["S1000/I10"]
    for name in ("I10", "I20", "I30"):
        assert "localizer" in why[f"S4010/{name}"]
    for name in ("I40", "I50", "I60"):
        assert "colour" in why[f"S4010/{name}"]
    assert "not DICOM" in why["LICENSE"]


@pytest.mark.shared_data
def test_pydicom_cases(shared_data: Path, all_dicom: StudyIndex) -> None:
    why = reasons(all_dicom)
    assert why["IM000000"] == "no pixel data"  # TINY_ALPHA: pixel-less images
    assert "localizer" in why["6293"]  # CT2N scouts
    assert "DICOMDIR" in why["DICOMDIR"]
    modalities = {s.modality for s in all_dicom.all_series()}
    assert {"CT", "MR", "CR"} <= modalities


@pytest.mark.shared_data
def test_dicomdir_lists_its_images(shared_data: Path) -> None:
    folder = shared_data / "dicom/pydicom_ct/pydicom_test_files/dicomdirtests"
    index = discover(folder / "DICOMDIR")
    found = {Path(f) for s in index.all_series() for f in s.files}
    found |= {Path(item.path) for item in index.set_aside}
    listed = pydicom.dcmread(folder / "DICOMDIR").DirectoryRecordSequence
    expected = {folder.joinpath(*r.ReferencedFileID) for r in listed if "ReferencedFileID" in r}
    assert found == expected
    empty = discover(folder / "DICOMDIR-empty.dcm")  # lists nothing: what its folder holds
    assert len(empty.all_series()) == len(discover(folder).all_series())
    assert any("lists no images" in item.reason for item in empty.set_aside)


@pytest.fixture
def folder_with_corrupt_files(tmp_path: Path, shared_data: Path) -> Path:
    """Four good CT slices plus a garbage file, a truncated header and a truncated image."""
    source = shared_data / "dicom/pydicom_ct/pydicom_test_files/dicomdirtests/77654033/CT2"
    good = sorted(source.iterdir())
    for path in good:
        shutil.copy(path, tmp_path / f"{path.name}.dcm")
    (tmp_path / "garbage.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 40)
    (tmp_path / "cut_header.dcm").write_bytes(good[0].read_bytes()[:300])
    ds = pydicom.dcmread(good[-1])
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 1.25  # the next slice
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "cut_pixels.dcm")
    data = (tmp_path / "cut_pixels.dcm").read_bytes()
    (tmp_path / "cut_pixels.dcm").write_bytes(data[:-300])
    return tmp_path


@pytest.mark.shared_data
def test_corrupt_files_set_aside_good_series_loads(folder_with_corrupt_files: Path) -> None:
    index = discover(folder_with_corrupt_files)
    why = reasons(index)
    assert set(why) == {"garbage.dcm", "cut_header.dcm"}
    assert all(reason for reason in why.values())
    volume = load_volume(folder_with_corrupt_files)
    assert volume.shape == (4, 16, 16)
    assert any("cut_pixels.dcm" in w and "cannot decode" in w for w in volume.warnings)


def test_empty_folder_and_non_image_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_volume(tmp_path)
    assert str(tmp_path) in str(caught.value) and "no image" in str(caught.value)
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    with pytest.raises(InputError) as caught:
        load_volume(text)
    message = str(caught.value)
    assert str(text) in message and "not DICOM" in message and "\n" not in message
    with pytest.raises(InputError):
        discover(tmp_path / "missing")


@pytest.mark.shared_data
def test_info_json_and_table(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data / "dicom/cq500_head_jpegls_tilt"
    assert main(["info", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    series = [s for p in data["patients"] for st in p["studies"] for s in st["series"]]
    assert sorted(s["images"] for s in series) == [1, 238]
    big = max(series, key=lambda s: s["images"])
    assert big["matrix"] == [512, 512] and big["modality"] == "CT"
    assert any("missing slice" in w for w in big["warnings"])
    assert main(["info", str(folder)]) == 0
    table = capsys.readouterr().out
    assert "238 img" in table and "gantry tilt" in table


def test_info_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nowhere" in err


@pytest.mark.shared_data
def test_every_series_found_loads(all_dicom: StudyIndex) -> None:
    for series in all_dicom.all_series():
        if series.n_images > 100:
            continue  # the big CQ500 series has its own tests
        volume = load_series(series)
        assert volume.shape == (series.n_images, series.rows, series.cols), series.key
        assert np.isfinite(volume.array).all()


@pytest.mark.shared_data
def test_series_sharing_a_uid_is_split(shared_data: Path, tmp_path: Path) -> None:
    """A scout hidden in the axial series (same UID, no LOCALIZER type) is told apart."""
    exam = shared_data / "dicom/dcm_qa_ct_philips_exam"
    axial = sorted((exam / "S2010").glob("I*"))[:5]
    for path in axial:
        shutil.copy(path, tmp_path / path.name)
    scout = pydicom.dcmread(exam / "S1000/I10")
    scout.SeriesInstanceUID = pydicom.dcmread(axial[0]).SeriesInstanceUID
    scout.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    scout.save_as(tmp_path / "scout.dcm")
    index = discover(tmp_path)
    (series,) = index.all_series()
    assert series.n_images == 5 and "scout.dcm" not in " ".join(series.files)
    assert "localizer" in reasons(index)["scout.dcm"]


@pytest.mark.shared_data
def test_repeated_positions_become_separate_stacks(all_dicom: StudyIndex) -> None:
    """WG04 stores one slice in six encodings under one series UID: six stacks, not one."""
    uid = pydicom.dcmread(
        all_dicom.root + "/wg04_transfer_syntaxes/data/WG04/REF/CT1_UNC", stop_before_pixels=True
    ).SeriesInstanceUID
    stacks = [s for s in all_dicom.all_series() if s.series_uid == uid and s.rows == 512]
    assert len(stacks) >= 6 and all(s.n_images == 1 for s in stacks)
    assert len({s.key for s in stacks}) == len(stacks)
    assert all("split" in s.warnings[0] for s in stacks)
