"""DICOM SEG + Secondary Capture exports and de-identification, on a phantom DICOM series."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pypdf import PdfReader
from scipy import ndimage

from ctviewer.anomaly.segment import segment
from ctviewer.errors import Cancelled
from ctviewer.feedback.store import FeedbackStore
from ctviewer.io import load_volume
from ctviewer.progress import new_cancel_flag
from ctviewer.report.dicom_export import export_dicom
from ctviewer.report.export import export_report, reviewer_decisions
from ctviewer.report.keyimages import MAX_KEY_IMAGES, key_findings, key_image, peak_slice
from ctviewer.synth.phantom import Lesion, make_phantom, write_dicom_series
from ctviewer.volume import ModelInfo, Result, Volume

NAME, PATIENT_ID = "DOE^JANE", "PID-778899"


@dataclass
class PhantomSeries:
    folder: Path
    phi: list[str]  # identifying strings written into the headers
    lesions: np.ndarray  # ground-truth lesion mask in slice order


@pytest.fixture(scope="module")
def phantom_series(tmp_path_factory: pytest.TempPathFactory) -> PhantomSeries:
    """A 24-slice phantom with two lung lesions, written as a DICOM series."""
    phantom = make_phantom(
        (24, 96, 96), lesions=[Lesion("nodule", 10.0), Lesion("ggo", 12.0)], seed=3
    )
    folder = tmp_path_factory.mktemp("phantom_dicom")
    write_dicom_series(phantom, folder, patient_name=NAME, patient_id=PATIENT_ID)
    ds = pydicom.dcmread(next(folder.glob("*.dcm")))
    birth = str(ds.PatientBirthDate)
    phi = ["DOE", "JANE", PATIENT_ID, birth, f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"]
    return PhantomSeries(folder, [*phi, str(ds.AccessionNumber)], phantom.mask)


def analysed(volume: Volume, lesions: np.ndarray) -> Result:
    """A result whose map lights up the true lesions (no model needed)."""
    amap = ndimage.gaussian_filter(lesions.astype(np.float32), 1.0)
    labels, findings = segment(amap, volume, threshold=0.3)
    scores = amap.reshape(volume.n_slices, -1).mean(axis=1)
    model = ModelInfo("ctviewer-ae", "test-1", threshold=0.01)
    return Result(
        volume.source,
        volume.series_uid,
        model,
        float(scores.max()),
        0.01,
        True,
        scores,
        amap,
        labels,
        findings,
    )


@pytest.fixture(scope="module")
def study(phantom_series: PhantomSeries) -> tuple[Volume, Result, list[str]]:
    volume = load_volume(phantom_series.folder)
    result = analysed(volume, phantom_series.lesions)
    assert len(result.findings) == 2  # one per lesion
    return volume, result, phantom_series.phi


def header_text(ds: pydicom.Dataset) -> str:
    """Every value in the dataset, its file meta and all nested sequences, as one string."""
    values = []

    def walk(dataset: pydicom.Dataset) -> None:
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value:
                    walk(item)
            elif element.tag != 0x7FE00010:  # not the pixels
                values.append(str(element.value))

    walk(ds.file_meta)
    walk(ds)
    return "\n".join(values)


def export(study, tmp_path: Path, deidentify: bool):
    volume, result, _ = study
    with FeedbackStore() as store:
        store.record(result, result.findings[0], "accept", "Dr Ada")
        store.record(result, result.findings[1], "reject", "Dr Bob")
    decisions = reviewer_decisions(result)
    return export_report(
        volume,
        result,
        tmp_path / "report.pdf",
        decisions,
        window=(-600, 1500),
        deidentify=deidentify,
        dicom_dir=tmp_path / "dicom",
    )


def source_uids(volume: Volume) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(f, stop_before_pixels=True) for f in volume.files]


def test_seg_has_one_segment_per_finding_matching_its_voxels(study, tmp_path: Path) -> None:
    volume, result, _ = study
    out = export(study, tmp_path, deidentify=False).dicom
    seg = hd.seg.segread(out.segmentation)
    sources = source_uids(volume)
    assert seg.number_of_segments == len(result.findings)
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert seg.SeriesInstanceUID != sources[0].SeriesInstanceUID
    assert seg.PatientName == NAME
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("ctviewer-ae", "test-1")
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == sources[0].SeriesInstanceUID
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in sources],
        segment_numbers=list(range(1, len(result.findings) + 1)),
        assert_missing_frames_are_empty=True,
    )
    for number, finding in enumerate(result.findings, start=1):
        assert np.array_equal(pixels[..., number - 1] > 0, result.labels == finding.id)


def test_key_images_are_secondary_captures_readable_by_pydicom_and_simpleitk(
    study, tmp_path: Path
) -> None:
    volume, result, _ = study
    outputs = export(study, tmp_path, deidentify=False)  # finding 1 accepted, finding 2 rejected
    out = outputs.dicom
    kept = key_findings(result, reviewer_decisions(result))
    assert [f.id for f in kept] == [result.findings[0].id]  # no key image of a rejected finding
    assert len(out.key_images) == 1 and "1 finding rejected by the reviewer" in out.note
    assert "1 finding rejected by the reviewer" in out.summary(tmp_path / "dicom")
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(outputs.pdf).pages)
    assert "get no key image here or in the DICOM export" in text
    sources = source_uids(volume)
    for finding, path in zip(kept, out.key_images, strict=True):
        ds = pydicom.dcmread(path)
        z = peak_slice(result, finding.id)
        expected = key_image(volume, result, z, (-600, 1500), selected=finding.id)
        assert ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
        assert np.array_equal(ds.pixel_array, expected)
        assert ds.StudyInstanceUID == sources[z].StudyInstanceUID
        assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == sources[z].SOPInstanceUID
        image = sitk.ReadImage(str(path))
        assert image.GetNumberOfComponentsPerPixel() == 3
        assert image.GetSize()[:2] == (expected.shape[1], expected.shape[0])


def test_deidentified_exports_carry_no_patient_identity(study, tmp_path: Path) -> None:
    volume, result, phi = study
    outputs = export(study, tmp_path, deidentify=True)
    reader = PdfReader(outputs.pdf)
    text = "\n".join(p.extract_text() for p in reader.pages)
    text += " ".join(str(v) for v in (reader.metadata or {}).values())
    assert "accepted by Dr Ada" in text and "rejected by Dr Bob" in text
    assert not [s for s in phi if s in text]
    original = source_uids(volume)
    original_uids = {
        str(ds[k].value)
        for ds in original
        for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
    }
    files = [outputs.dicom.segmentation, *outputs.dicom.key_images]
    studies = set()
    for path in files:
        ds = pydicom.dcmread(path)
        headers = header_text(ds)
        assert not [s for s in phi if s in headers], path.name
        assert not [uid for uid in original_uids if uid in headers], path.name
        assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethod
        studies.add(ds.StudyInstanceUID)
    assert len(studies) == 1  # SEG and key images still belong together
    seg = hd.seg.segread(outputs.dicom.segmentation)
    # the de-identified SEG references the de-identified copies, in slice order
    referenced = [
        r.ReferencedSOPInstanceUID
        for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    ]
    for path in outputs.dicom.key_images:
        sc = pydicom.dcmread(path)
        assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID in referenced
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=referenced,
        segment_numbers=list(range(1, len(result.findings) + 1)),
        assert_missing_frames_are_empty=True,
    )
    for number, finding in enumerate(result.findings, start=1):
        assert np.array_equal(pixels[..., number - 1] > 0, result.labels == finding.id)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, phantom_series: PhantomSeries) -> Path:
    """A tiny autoencoder trained for seconds on two lesion-free phantoms. Its findings threshold
    is set to the top 2 % of its map on the test phantom, so that it reports several regions
    there whatever its (untrained) quality: these tests are about reports, not detection."""
    from ctviewer.model.checkpoint import save_model
    from ctviewer.model.preprocess import Preprocessing
    from ctviewer.model.train import TrainConfig, train_model
    from ctviewer.pipeline import detect

    normals = [make_phantom((12, 64, 64), seed=s).volume for s in (10, 11)]
    config = TrainConfig(
        epochs=3,
        preprocessing=Preprocessing(kind="hu", size=32),
        base_channels=4,
        depth=2,
        latent_channels=4,
        device="cpu",
    )
    model = train_model(normals, config)
    amap = detect(load_volume(phantom_series.folder), model).anomaly_map
    model.metadata["pixel_threshold"] = float(np.quantile(amap[amap > 0], 0.98))
    model.metadata["min_size_mm3"] = 100.0
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(model, path)
    return path


def test_cli_report_end_to_end_with_decisions(
    phantom_series, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from ctviewer.cli.main import main
    from ctviewer.model.checkpoint import load_model
    from ctviewer.pipeline import detect

    folder, phi = phantom_series.folder, phantom_series.phi
    result = detect(load_volume(folder), load_model(tiny_model, device="cpu"))
    assert len(result.findings) >= 2
    db = tmp_path / "feedback.sqlite"
    with FeedbackStore(db) as store:  # decisions made in the viewer on the same analysis
        store.record(result, result.findings[0], "accept", "Dr Ada")
        store.record(result, result.findings[-1], "reject", "Dr Bob")
    pdf, dicom = tmp_path / "report.pdf", tmp_path / "dicom"
    argv = [
        "report",
        str(folder),
        "--out",
        str(pdf),
        "--model",
        str(tiny_model),
        "--deidentify",
        "--dicom",
        str(dicom),
        "--reviewer-db",
        str(db),
        "--device",
        "cpu",
        "--json",
    ]
    assert main(argv) == 0
    written = json.loads(capsys.readouterr().out)
    text = "\n".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert "accepted by Dr Ada" in text and "rejected by Dr Bob" in text
    assert text.count("not reviewed") >= len(result.findings) - 2
    assert not [s for s in phi if s in text]
    assert len(written["dicom_key_images"]) == len(result.findings) - 1  # one was rejected
    seg = hd.seg.segread(written["dicom_seg"])
    assert seg.number_of_segments == len(result.findings)
    assert not [s for s in phi if s in header_text(seg)]


@pytest.mark.shared_data
def test_report_of_a_real_tilted_jpeg_lossless_head_ct(
    shared_data: Path, tiny_model: Path, tmp_path: Path
) -> None:
    """CQ500 (gantry tilt, JPEG lossless, no Frame of Reference UID): 16 contiguous slices of
    the main series, linked into a folder, through the whole report path, de-identified."""
    from ctviewer.report.export import report_from_path

    folder = shared_data / "dicom" / "cq500_head_jpegls_tilt"
    headers = [(p, pydicom.dcmread(p, stop_before_pixels=True)) for p in folder.glob("*.dcm")]
    main_series = max(
        {ds.SeriesInstanceUID for _, ds in headers},
        key=lambda uid: sum(ds.SeriesInstanceUID == uid for _, ds in headers),
    )
    stack = sorted(
        (float(ds.ImagePositionPatient[2]), p)
        for p, ds in headers
        if ds.SeriesInstanceUID == main_series
    )
    subset = tmp_path / "cq500_subset"
    subset.mkdir()
    for _, path in stack[100:116]:
        (subset / path.name).symlink_to(path)
    phi = {str(headers[0][1].PatientName), str(headers[0][1].PatientID)}
    # the whole path with a model (a chest-phantom model: it may find nothing in a head)
    outputs = report_from_path(
        subset,
        tmp_path / "cq500.pdf",
        model_path=tiny_model,
        deidentify=True,
        dicom_dir=tmp_path / "dicom",
        device="cpu",
    )
    text = "\n".join(p.extract_text() for p in PdfReader(outputs.pdf).pages)
    assert "decision support" in text and not [s for s in phi if s in text]
    assert text.count("Finding ") == min(len(outputs.dicom.key_images), MAX_KEY_IMAGES)
    # a SEG on the tilted geometry: a blob-shaped finding must come back voxel for voxel
    volume = load_volume(subset)
    z, y, x = np.indices(volume.shape, sparse=True)
    amap = np.exp(-((z - 8) ** 2 / 12 + ((y - 300) ** 2 + (x - 310) ** 2) / 400.0))
    labels, findings = segment(amap.astype(np.float32), volume, threshold=0.5)
    result = Result(
        volume.source,
        volume.series_uid,
        ModelInfo("m", "1", 0.1),
        1.0,
        0.1,
        True,
        amap.max(axis=(1, 2)),
        amap.astype(np.float32),
        labels,
        findings,
    )
    dicom = export_report(
        volume, result, tmp_path / "blob.pdf", deidentify=True, dicom_dir=tmp_path / "blob"
    ).dicom
    seg = hd.seg.segread(dicom.segmentation)
    referenced = [
        r.ReferencedSOPInstanceUID
        for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    ]
    pixels = seg.get_pixels_by_source_instance(
        referenced, segment_numbers=[1], assert_missing_frames_are_empty=True
    )
    assert len(findings) == 1 and np.array_equal(pixels[..., 0] > 0, labels == 1)
    for path in [*outputs.dicom.key_images, *dicom.key_images, dicom.segmentation]:
        headers_text = header_text(pydicom.dcmread(path))
        assert not [s for s in phi if s in headers_text]
        assert main_series not in headers_text


def test_cancelled_dicom_export_leaves_no_file(study, tmp_path: Path) -> None:
    volume, result, _ = study
    cancel = new_cancel_flag()
    cancel.set()  # checked between key images, after the SEG was written to the staging folder
    with pytest.raises(Cancelled):
        export_dicom(volume, result, tmp_path / "dicom", cancel=cancel)
    assert list((tmp_path / "dicom").iterdir()) == []
