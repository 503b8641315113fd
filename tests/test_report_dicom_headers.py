"""What the DICOM exports take from the source headers.

De-identification against the whole of PS3.15 Table E.1-1, on a planted series: a synthetic CT
series carrying a value in every attribute of the table (nested sequences and private tags too),
checked attribute by attribute in the de-identified headers and in the SEG + SC that
`ctviewer report --deidentify --dicom DIR` writes. And real-world headers that lack what SEG/SC
need: Type 2 patient attributes left out, empty Type 1 UIDs (the TotalSegmentator series)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, generate_uid

from ctviewer.report.deidentify import (
    ANONYMOUS,
    UidMap,
    attribute_types,
    basic_profile,
    deidentify_dataset,
    profile_action,
    resolved_action,
)
from ctviewer.synth.phantom import Lesion, make_phantom, write_dicom_series

# the series' own identity: planted too, but with the values the series needs to stay one series
IDENTITY = {0x00080018, 0x0020000D, 0x0020000E, 0x00200052, 0x00020003}
PRIVATE_CREATOR = "PLANTED PRIVATE"
# Table attributes that ctviewer or highdicom write anew about the export itself (never copied
# from the source): allowed in the exports whatever the table says about the source's value.
WRITTEN_BY_EXPORT = {
    "SeriesDescription",  # "ctviewer anomaly findings" / "ctviewer key images"
    "ContentDate",
    "ContentTime",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "DateOfSecondaryCapture",
    "TimeOfSecondaryCapture",
    "DeviceSerialNumber",  # the SEG's own equipment ("0")
    "ContributionDescription",
    "ContributionDateTime",
    "DerivationDescription",  # the SC's "finding 1, slice 3: ..."
    "SourceImageSequence",  # the de-identified source a key image or SEG frame derives from
}


def table_tags() -> list[int]:
    """Every exact tag of the table, plus one instance of each repeating group (60xx → 6000)."""
    exact, masked = basic_profile()
    return sorted([*exact, *(tag for tag, _, _ in masked)])


def planted_value(tag: int, vr: str, k: int) -> object:
    """A value for attribute number `k`, unique where the VR allows (so a leak is found by text)."""
    text = f"P{k:05d}"
    day = (date(1901, 1, 1) + timedelta(days=k)).strftime("%Y%m%d")
    values = {
        "AE": text,
        "CS": text,
        "SH": text,
        "PN": f"PLANTED^{text}",
        "DA": day,
        "TM": f"111111.{k:06d}",
        "DT": f"{day}111111.{k:06d}",
        "AS": "042Y",
        "DS": f"{k}.5",
        "IS": str(k),
        "UI": generate_uid(entropy_srcs=["planted", str(k)]),
        "UR": f"http://planted.invalid/{k}",
        "AT": 0x00100010,
    }
    if vr in values:
        return values[vr]
    if vr in ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"):
        return k
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        return b"PLANTED!"
    return f"PLANTED-{tag:08X}"  # LO, LT, ST, UT, UC


def nested_item(k: int) -> Dataset:
    """What every planted sequence holds: a reference, a person, an institution, a private tag,
    and one more level of nesting."""
    item = Dataset()
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = generate_uid(entropy_srcs=["planted-nested", str(k)])
    item.PersonName = f"NESTED^P{k:05d}"
    item.InstitutionName = f"NESTED-INSTITUTION-{k}"
    item.private_block(0x0011, PRIVATE_CREATOR, create=True).add_new(0x01, "LO", "NESTED-PRIV")
    inner = Dataset()
    inner.PatientName = f"DEEP^P{k:05d}"
    inner.ReferencedSOPInstanceUID = generate_uid(entropy_srcs=["planted-deep", str(k)])
    item.ReferencedSeriesSequence = Sequence([inner])  # not in the table: walked into
    return item


def plant(ds: Dataset, in_file: bool) -> dict[int, object]:
    """Put a value in every table attribute of `ds` (`in_file`: only what a file can hold);
    return tag → planted value (nested sequences: the item)."""
    planted: dict[int, object] = {}
    for k, tag in enumerate(table_tags()):
        group = tag >> 16
        if tag in IDENTITY:
            planted[tag] = str(ds.file_meta[tag].value if group == 2 else ds[tag].value)
            continue
        if group == 0 and in_file:  # command elements cannot be stored in a file
            continue
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:  # newer than pydicom's dictionary
            vr = "LO"
        if vr == "SQ":
            value: object = Sequence([nested_item(k)])
        else:
            value = planted_value(tag, vr, k)
        ds.add_new(tag, vr, value)
        planted[tag] = value
    ds.private_block(0x0009, PRIVATE_CREATOR, create=True).add_new(0x01, "LO", "PLANTED-PRIV")
    return planted


@dataclass
class PlantedSeries:
    folder: Path
    planted: dict[int, object]
    original_uids: set[str]  # every UID planted anywhere, nested ones too
    markers: set[str]  # text values unique enough to search for in an export


def uids_in(value: object) -> set[str]:
    found = set()
    if isinstance(value, Sequence):
        for item in value:
            for element in item:
                found |= uids_in(element.value) if element.VR in ("SQ", "UI") else set()
    elif isinstance(value, str) and value.startswith("1.2.826."):
        found.add(value)
    return found


@pytest.fixture(scope="module")
def planted_series(tmp_path_factory: pytest.TempPathFactory) -> PlantedSeries:
    phantom = make_phantom((6, 48, 48), lesions=[Lesion("nodule", 9.0)], seed=5)
    folder = tmp_path_factory.mktemp("planted")
    planted: dict[int, object] = {}
    for path in write_dicom_series(phantom, folder):
        ds = pydicom.dcmread(path)
        planted = plant(ds, in_file=True)
        ds.save_as(path, enforce_file_format=True)
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.glob("*.dcm"))]
    original = {str(ds[t].value) for ds in headers for t in IDENTITY - {0x00020003}}
    for value in planted.values():
        original |= uids_in(value)
    markers = {v for v in planted.values() if isinstance(v, str) and len(v) >= 6}
    markers = {m for m in markers if not m.startswith("1.2.826.")}
    markers |= {"NESTED", "DEEP^", "PLANTED"}
    return PlantedSeries(folder, planted, original, markers)


def check_action(tag: int, planted: object, out: Dataset, expected: str, uids: UidMap) -> None:
    """One attribute of a de-identified dataset against its (resolved) action."""
    name = f"{keyword_for_tag(tag) or hex(tag)} ({expected})"
    if expected == "X":
        assert tag not in out, name
        return
    assert tag in out, name
    value = out[tag].value
    if expected == "Z":
        if keyword_for_tag(tag) == "PatientName":
            assert value == ANONYMOUS, name  # Z allows a dummy: one recognisable name
        elif keyword_for_tag(tag) == "PatientID":
            assert value == uids.patient_id, name
        else:
            assert out[tag].is_empty, name
    elif expected == "D":
        assert not out[tag].is_empty and value != planted, name
        if isinstance(value, Sequence):  # dummy items: nothing of the planted one left
            assert "NESTED" not in str(value) and "DEEP" not in str(value), name
    else:  # U: a new UID, the same one wherever the original appeared
        if isinstance(value, Sequence):  # X/Z/U* kept as a Type 1 sequence
            ref = value[0].ReferencedSOPInstanceUID
            assert ref == uids.mapping[planted[0].ReferencedSOPInstanceUID], name
        else:
            assert value == uids.mapping[str(planted)], name


def test_every_attribute_of_the_table_gets_its_action(planted_series: PlantedSeries) -> None:
    source = pydicom.dcmread(next(planted_series.folder.glob("*.dcm")))
    planted = dict(planted_series.planted)
    for tag in IDENTITY:  # this slice's own
        planted[tag] = str((source.file_meta if tag >> 16 == 2 else source)[tag].value)
    for tag in table_tags():  # command elements, which a file cannot hold, in memory
        if tag >> 16 == 0:
            vr = dictionary_VR(tag)
            source.add_new(tag, vr, planted_value(tag, vr, tag & 0xFFFF))
            planted[tag] = source[tag].value
    uids = UidMap()
    out = deidentify_dataset(source, uids)
    types = attribute_types(CTImageStorage)
    assert len(planted) == len(table_tags()) > 600
    for tag, value in planted.items():
        action = profile_action(tag)
        expected = resolved_action(action, types.get((keyword_for_tag(tag),), 3))
        holder = out.file_meta if tag >> 16 == 2 else out
        check_action(tag, value, holder, expected, uids)
    # kept sequences were walked: nested table attributes handled, nested private tags gone
    for element in out.iterall():
        assert not element.tag.is_private, element
        if element.keyword == "ReferencedSOPInstanceUID":
            assert element.value in uids.mapping.values(), element
        assert element.keyword not in ("PersonName", "InstitutionName") or (
            "NESTED" not in str(element.value)
        )
    assert "DEEP" not in str(out) and "NESTED-PRIV" not in str(out)
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert "PS3.15" in out.DeidentificationMethod


def test_combined_actions_keep_what_the_iod_requires() -> None:
    """X/Z/D and friends: the attribute's Type in the dataset's IOD decides."""
    assert [resolved_action("X/Z/D", t) for t in (1, 2, 3)] == ["D", "Z", "X"]
    assert [resolved_action("X/Z/U*", t) for t in (1, 2, 3)] == ["U", "Z", "X"]
    assert [resolved_action("Z/D", t) for t in (1, 2, 3)] == ["D", "Z", "Z"]
    assert [resolved_action("X/D", t) for t in (1, 2, 3)] == ["D", "D", "X"]
    assert [resolved_action("X/Z", t) for t in (1, 2, 3)] == ["Z", "Z", "X"]
    # a Segmentation needs its Device Serial Number (Enhanced General Equipment, Type 1): a dummy
    seg = Dataset()
    seg.SOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    seg.DeviceSerialNumber = "SN-778899"
    seg.InstitutionName = "St Elsewhere"
    out = deidentify_dataset(seg, UidMap())
    assert out.DeviceSerialNumber not in ("", "SN-778899") and "InstitutionName" not in out
    # Enhanced US Volume needs its Source Image Sequence (Type 1): kept, its UIDs replaced
    us = Dataset()
    us.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.2"
    us.SourceImageSequence = Sequence([nested_item(1)])
    uids = UidMap()
    out = deidentify_dataset(us, uids)
    original = us.SourceImageSequence[0].ReferencedSOPInstanceUID
    assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == uids.mapping[original]
    assert "NESTED" not in str(out)


@pytest.fixture(scope="module")
def finds_everything(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model with its map threshold below zero: the whole volume is one finding, so
    every export path runs (these tests are about exports, not detection)."""
    from ctviewer.model.checkpoint import load_model, save_model

    model = load_model(None, device="cpu")
    path = tmp_path_factory.mktemp("model") / "finds_everything.pt"
    fits = {"kind": "hu", "body_parts": []}  # any CT, any score: the export path is under test
    calibration = {**model.metadata.get("calibration", {}), "normal_scores": []}
    update = {"pixel_threshold": -1.0, "fits": fits, "calibration": calibration}
    update["spacing_calibrations"] = []  # one calibration for every series: this one
    return save_model(model, path, update)


def walk(dataset: Dataset):
    """Every element, nested ones too."""
    for element in dataset:
        yield element
        if element.VR == "SQ":
            for item in element.value:
                yield from walk(item)


def report_json(capsys, folder: Path, model: Path, out: Path, *options: str) -> dict:
    """`ctviewer report FOLDER --model M --dicom OUT/dicom OPTIONS --json` → what it printed."""
    from ctviewer.cli.main import main

    argv = ["report", str(folder), "--out", str(out / "r.pdf"), "--model", str(model)]
    argv += ["--dicom", str(out / "dicom"), "--device", "cpu", "--json", *options]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_report_deidentify_dicom_applies_the_table_to_seg_and_sc(
    planted_series: PlantedSeries, finds_everything: Path, tmp_path: Path, capsys
) -> None:
    written = report_json(capsys, planted_series.folder, finds_everything, tmp_path, "--deidentify")
    files = [Path(written["dicom_seg"]), *map(Path, written["dicom_key_images"])]
    assert len(files) == 2
    exports = [pydicom.dcmread(p) for p in files]
    for path, ds in zip(files, exports, strict=True):
        text = "\n".join(str(e.value) for e in walk(ds) if e.tag != 0x7FE00010)
        text += "\n".join(str(e.value) for e in ds.file_meta)
        assert not [m for m in planted_series.markers if m in text], path.name
        assert not [u for u in planted_series.original_uids if u in text], path.name
        for element in walk(ds):
            assert not element.tag.is_private, (path.name, element)
            action = profile_action(int(element.tag))
            if action is None or element.keyword in WRITTEN_BY_EXPORT:
                continue
            planted = planted_series.planted.get(int(element.tag))
            name = (path.name, element.keyword or hex(element.tag), action)
            assert action != "X", name  # removed from the source, so never copied
            if "Z" in action and element.VR != "UI" and element.keyword != "PatientID":
                assert element.is_empty or element.value == ANONYMOUS, name
            if planted is not None and element.VR != "SQ":
                assert element.value != planted, name
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    seg, sc = exports
    assert seg.StudyInstanceUID == sc.StudyInstanceUID and seg.PatientID == sc.PatientID
    referenced = {
        r.ReferencedSOPInstanceUID
        for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert len(referenced) == 6  # every de-identified slice, under its new UID
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID in referenced
    assert seg.FrameOfReferenceUID not in planted_series.original_uids
    assert np.asarray(seg.pixel_array).any()
    for ds in exports:  # issue 12: highdicom copied these patient attributes through
        assert "Occupation" not in ds and "ResponsiblePerson" not in ds


def test_report_dicom_of_a_series_without_type2_patient_attributes(
    finds_everything: Path, tmp_path: Path, capsys
) -> None:
    """Real scanner and anonymised series often leave out birth date, sex, accession number …"""
    folder = tmp_path / "bare"
    missing = ("PatientBirthDate", "PatientSex", "PatientName", "PatientID", "AccessionNumber")
    missing += ("StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName")
    for path in write_dicom_series(make_phantom((4, 48, 48), seed=8), folder):
        ds = pydicom.dcmread(path)
        for keyword in missing:
            delattr(ds, keyword)
        ds.save_as(path, enforce_file_format=True)
    written = report_json(capsys, folder, finds_everything, tmp_path)
    seg = pydicom.dcmread(written["dicom_seg"])
    sc = pydicom.dcmread(written["dicom_key_images"][0])
    for ds in (seg, sc):  # present (Type 2) and empty, as in the source
        assert all(ds[k].is_empty for k in ("PatientBirthDate", "PatientSex", "StudyDate"))
    source = pydicom.dcmread(next(folder.glob("*.dcm")))
    assert seg.StudyInstanceUID == source.StudyInstanceUID  # not de-identified: same study
    assert "PatientBirthDate" not in source  # the source files were not changed


@pytest.mark.shared_data
def test_deidentified_export_of_the_jpeg2000_totalsegmentator_series(
    shared_data: Path, finds_everything: Path, tmp_path: Path, capsys
) -> None:
    """Its headers carry empty SOP Class / SOP Instance / Study / Series UIDs (highdicom failed
    with KeyError: ''), and an institution address, station name and requesting physician."""
    folder = shared_data / "dicom" / "totalsegmentator_example" / "example_ct_dicom"
    source = pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True)
    assert source.SOPClassUID == "" and source.StudyInstanceUID == ""
    written = report_json(capsys, folder, finds_everything, tmp_path, "--deidentify")
    seg = pydicom.dcmread(written["dicom_seg"])
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and seg.StudyInstanceUID
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert len(referenced) == 20 and all(r.ReferencedSOPInstanceUID for r in referenced)
    phi = [str(source.InstitutionAddress).split()[0], str(source.StationName)]
    phi += [str(source.file_meta.MediaStorageSOPInstanceUID), str(source.FrameOfReferenceUID)]
    for path in [written["dicom_seg"], *written["dicom_key_images"]]:
        ds = pydicom.dcmread(path)
        text = "\n".join(str(e.value) for e in walk(ds) if e.tag != 0x7FE00010)
        assert not [s for s in phi if s in text], path
        assert "RequestingPhysician" not in ds and ds.PatientIdentityRemoved == "YES"
