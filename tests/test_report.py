"""PDF report, key images and de-identification on a hand-built analysis (no model, no DICOM)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from ctviewer.anomaly.segment import segment
from ctviewer.errors import Cancelled, CTViewerError
from ctviewer.feedback.store import FeedbackStore
from ctviewer.progress import new_cancel_flag
from ctviewer.report.dicom_export import export_dicom
from ctviewer.report.export import export_report, reviewer_decisions
from ctviewer.report.keyimages import (
    MAX_KEY_IMAGES,
    SELECTED_BOX_RGB,
    key_image,
    nice_length,
    peak_slice,
    save_key_image,
    scale_label,
)
from ctviewer.report.pdf import CLOSING_LINE, decision_text
from ctviewer.report.verdict import STATE_COLOURS, report_verdict
from ctviewer.volume import ModelInfo, Result, Volume

PHI = {"PatientName": "DOE^JANE", "PatientID": "PID-778899", "PatientBirthDate": "19610214"}
PHI_STRINGS = ("DOE", "JANE", "PID-778899", "19610214", "1961-02-14")
BLOBS = [(4, 20, 18, 4.0, 1.0), (9, 40, 44, 5.0, 0.8), (13, 22, 46, 3.5, 0.6)]  # z, y, x, r mm, a


def hand_case(blobs=BLOBS, abnormal=True) -> tuple[Volume, Result]:
    """A 16×64×64 'CT' with bright blobs and a Gaussian anomaly map on them."""
    shape, spacing = (16, 64, 64), (2.0, 0.75, 0.75)
    z, y, x = np.indices(shape)
    body = (y - 32) ** 2 / 28**2 + (x - 32) ** 2 / 30**2 < 1
    array = np.where(body, 30.0, -1000.0).astype(np.float32)
    amap = np.zeros(shape, np.float32)
    for cz, cy, cx, r, a in blobs:
        d2 = ((z - cz) * spacing[0]) ** 2 + ((y - cy) * spacing[1]) ** 2
        d2 = d2 + ((x - cx) * spacing[2]) ** 2
        amap += a * np.exp(-d2 / (2 * r * r))
        array += 80.0 * (d2 < r * r)
    meta = {**PHI, "StudyDate": "20240102", "SeriesDescription": "CHEST AXIAL"}
    volume = Volume(array, spacing, origin=(-24.0, -24.0, 10.0), meta=meta, source="hand")
    labels, findings = segment(amap, volume, threshold=0.3, min_size_mm3=1.0)
    slice_scores = amap.reshape(shape[0], -1).mean(axis=1)
    model = ModelInfo("ctviewer-ae", "v7", threshold=0.01)
    result = Result(
        "hand",
        "1.2.3.4",
        model,
        float(slice_scores.max()),
        0.01,
        abnormal,
        slice_scores,
        amap,
        labels,
        findings,
    )
    return volume, result


def pdf_text(path: Path) -> str:
    reader = PdfReader(path)
    meta = " ".join(str(v) for v in (reader.metadata or {}).values())
    return "\n".join(page.extract_text() for page in reader.pages) + "\n" + meta


@pytest.fixture
def reviewed(tmp_path: Path):
    """The hand case with finding 1 accepted, 2 rejected, 3 not reviewed, the series normal."""
    volume, result = hand_case()
    assert len(result.findings) == 3
    with FeedbackStore() as store:
        store.record(result, result.findings[0], "accept", "Dr Ada <A&E>")  # markup-like name
        store.record(result, result.findings[1], "accept", "Dr Bob")
        store.record(result, result.findings[1], "reject", "Dr Bob")  # changed mind: latest wins
        store.record(result, None, "normal", "Dr Cy")
    return volume, result, reviewer_decisions(result)


def test_pdf_lists_every_finding_with_its_decision(reviewed, tmp_path: Path) -> None:
    volume, result, decisions = reviewed
    out = export_report(volume, result, tmp_path / "r.pdf", decisions, window=(40, 400)).pdf
    text = pdf_text(out)
    expected = {1: "accepted by Dr Ada <A&E>", 2: "rejected by Dr Bob", 3: "not reviewed"}
    for finding in result.findings:
        assert decision_text(decisions.get(finding.id)).startswith(expected[finding.id])
        # pypdf puts each table cell on its own line: id, slices, centre, size, peak, mean, decision
        # slices 1-based, as the viewer shows them
        slices = f"{finding.slice_start + 1}–{finding.slice_end + 1}"
        cells = [str(finding.id), slices, *[".*"] * 4]
        row = "^" + "\n".join(cells) + "\n" + expected[finding.id]
        assert re.search(row, text, re.MULTILINE), f"no table row for finding {finding.id}"
        caption = rf"Finding {finding.id} — slice {peak_slice(result, finding.id) + 1} .*"
        if expected[finding.id].startswith("rejected"):  # a rejected finding: the table only
            assert not re.search(rf"Finding {finding.id} — slice", text)
        else:
            assert re.search(caption + expected[finding.id], text), f"no key image {finding.id}"
    assert "Reviewed: 1 of 3 findings accepted" in text
    assert "Model verdict: Flagged for review" in text
    assert "Reviewer: 1 accepted, 1 rejected, 1 not reviewed" in text
    assert "Series-level review: marked normal by Dr Cy" in text
    assert "DOE JANE" in text and "PID-778899" in text and "1961-02-14" in text
    assert "ctviewer-ae v7" in text
    assert " ".join(CLOSING_LINE.split()[-6:]) in " ".join(text.split())


def test_deidentified_pdf_has_no_patient_identity(reviewed, tmp_path: Path) -> None:
    volume, result, decisions = reviewed
    out = export_report(volume, result, tmp_path / "r.pdf", decisions, deidentify=True).pdf
    text = pdf_text(out)
    assert "de-identified" in text
    assert not [s for s in PHI_STRINGS if s in text]
    assert "accepted by Dr Ada <A&E>" in text  # reviewer names are staff, not patient identity


def test_verdict_without_findings_is_worded_as_decision_support(tmp_path: Path) -> None:
    volume, result = hand_case(blobs=[], abnormal=False)
    text = pdf_text(export_report(volume, result, tmp_path / "n.pdf").pdf)
    assert "No region above threshold" in text and "Flagged" not in text
    assert "not above the series threshold" in text


def test_the_pdf_says_which_calibration_gave_the_threshold(tmp_path: Path) -> None:
    volume, result = hand_case(blobs=[], abnormal=False)
    result.calibration = "4.69 mm slices"
    text = pdf_text(export_report(volume, result, tmp_path / "c.pdf").pdf)
    assert "(for 4.69 mm slices)" in text


def test_regions_below_the_series_threshold_are_listed_but_not_flagged() -> None:
    _, result = hand_case(abnormal=False)
    headline, detail = result.verdict()
    assert headline == "Not flagged; regions listed below for a look"
    assert "not above the series threshold" in detail and "3 regions above" in detail
    result.abnormal = True
    assert result.verdict()[0] == "Flagged for review"


def test_nice_scale_bar_lengths() -> None:
    assert [nice_length(v) for v in (7.0, 19.2, 48.0, 120.0)] == [5.0, 10.0, 20.0, 100.0]


def test_key_image_marks_the_finding_and_keeps_the_aspect(tmp_path: Path) -> None:
    volume, result = hand_case()
    finding = result.findings[0]
    z = peak_slice(result, finding.id)
    assert finding.slice_start <= z <= finding.slice_end
    image = key_image(volume, result, z, (40, 400), selected=finding.id, width=256)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    box = np.all(image == SELECTED_BOX_RGB, axis=-1)
    ys, xs = np.nonzero(box)
    scale = 256 / 64
    _, y0, x0, _, y1, x1 = finding.bbox
    assert ys.min() < y0 * scale and ys.max() > y1 * scale - 1
    assert xs.min() < x0 * scale and xs.max() > x1 * scale - 1
    plain = key_image(volume, None, z, (40, 400), width=256, annotate=False)
    assert not np.all(plain == SELECTED_BOX_RGB, axis=-1).any()
    path = save_key_image(tmp_path / "view.png", volume, result, z, (40, 400))
    with Image.open(path) as png:
        assert png.mode == "RGB" and png.size[0] == 512 and not png.text


def test_key_image_rejects_a_slice_outside_the_volume() -> None:
    volume, result = hand_case()
    with pytest.raises(CTViewerError, match="outside"):
        key_image(volume, result, volume.n_slices)


def test_dicom_export_needs_dicom_input(tmp_path: Path) -> None:
    volume, result = hand_case()
    volume.source = "scan.nii.gz"
    with pytest.raises(CTViewerError, match="needs DICOM input") as error:
        export_dicom(volume, result, tmp_path / "dicom")
    assert "\n" not in str(error.value) and "scan.nii.gz" in str(error.value)
    with pytest.raises(CTViewerError, match="needs DICOM input"):
        export_report(volume, result, tmp_path / "r.pdf", dicom_dir=tmp_path / "dicom")
    assert not (tmp_path / "r.pdf").exists()


def test_cli_refuses_dicom_export_of_a_png_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from ctviewer.cli.main import main

    png = tmp_path / "slice.png"
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(png)
    pdf = tmp_path / "r.pdf"
    assert main(["report", str(png), "--out", str(pdf), "--dicom", str(tmp_path / "d")]) == 1
    error = capsys.readouterr().err.strip()
    assert "needs DICOM input" in error and "slice.png" in error and "\n" not in error
    assert not pdf.exists()


def test_cli_window_argument() -> None:
    from ctviewer.cli.report import parse_window

    assert parse_window("40,400") == (40.0, 400.0)
    assert parse_window("-600,1500") == (-600.0, 1500.0)
    assert parse_window(None) is None
    with pytest.raises(CTViewerError, match="positive width"):
        parse_window("40,-1")
    with pytest.raises(CTViewerError, match="unknown window preset"):
        parse_window("no-such-preset")


def test_cancelled_export_leaves_nothing(tmp_path: Path) -> None:
    volume, result = hand_case()
    cancel = new_cancel_flag()
    cancel.set()
    with pytest.raises(Cancelled):
        export_report(volume, result, tmp_path / "r.pdf", cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_key_images_are_capped_but_the_table_lists_every_finding(tmp_path: Path) -> None:
    grid = [(y, x) for y in (12, 24, 36, 48) for x in (12, 24, 36, 48)][:14]
    blobs = [(8, y, x, 2.0, 1.0 - 0.01 * k) for k, (y, x) in enumerate(grid)]
    volume, result = hand_case(blobs=blobs)
    assert len(result.findings) > MAX_KEY_IMAGES
    text = pdf_text(export_report(volume, result, tmp_path / "many.pdf").pdf)
    captions = re.findall(r"^Finding (\d+) — ", text, re.MULTILINE)
    strongest = sorted(result.findings, key=lambda f: -f.peak)[:MAX_KEY_IMAGES]
    assert [int(c) for c in captions] == [f.id for f in strongest]
    hidden = len(result.findings) - MAX_KEY_IMAGES
    assert f"{hidden} further finding(s)" in text and "listed in the table only" in text
    for finding in result.findings:
        slices = f"{finding.slice_start + 1}–{finding.slice_end + 1}"
        assert re.search(rf"^{finding.id}\n{slices}\n", text, re.MULTILINE)


def test_every_finding_rejected_is_what_the_report_says(tmp_path: Path) -> None:
    """Issue 12: the headline stayed "Flagged for review", with key images, after the review."""
    volume, result = hand_case()
    with FeedbackStore() as store:
        for finding in result.findings:
            store.record(result, finding, "reject", "Dr Bob")
    text = pdf_text(
        export_report(volume, result, tmp_path / "r.pdf", reviewer_decisions(result)).pdf
    )
    headline = text.index("Reviewed: every finding rejected by Dr Bob")
    assert text.index("Model verdict: Flagged for review") > headline  # the model's word stays
    assert "Reviewer: 0 accepted, 3 rejected, 0 not reviewed" in text
    assert "Key images" not in text and not re.search(r"Finding \d — slice", text)
    assert "No key images: the reviewer rejected every finding" in text


def test_input_warnings_are_in_the_pdf(tmp_path: Path) -> None:
    volume, result = hand_case()
    volume.warnings = ["gantry/detector tilt 8.5°", "missing slices: 1.25 mm gap between slices"]
    text = " ".join(pdf_text(export_report(volume, result, tmp_path / "r.pdf").pdf).split())
    assert "Warnings about the input" in text
    assert "gantry/detector tilt 8.5°" in text and "missing slices: 1.25 mm gap" in text


def test_a_png_without_pixel_size_is_measured_in_pixels(tmp_path: Path) -> None:
    from ctviewer.io import load_volume

    png = tmp_path / "slice.png"
    Image.fromarray(np.full((64, 64), 100, np.uint8)).save(png)
    volume = load_volume(png)
    assert volume.spacing_known is False
    amap = np.zeros(volume.shape, np.float32)
    amap[0, 20:30, 20:28] = 1.0  # 80 pixels
    labels, findings = segment(amap, volume, threshold=0.5)
    (finding,) = findings
    assert finding.area_px == 80 and finding.area_mm2 is None and finding.size_mm3 is None
    assert finding.size_text() == "80 px²"
    assert "area_mm2" not in finding.to_json() and finding.to_json()["area_px"] == 80
    result = Result(
        str(png), None, ModelInfo("m", "1", 0.1), 1.0, 0.1, True, np.ones(1), amap, labels, findings
    )
    text = pdf_text(export_report(volume, result, tmp_path / "r.pdf").pdf)
    assert "80 px²" in text and "mm²" not in text and "pixel size unknown" in text
    assert "Centre x, y (px)" in text and "Size: pixel count" in text
    assert scale_label(20.0, spacing_known=False) == "20 px"
    assert scale_label(20.0, spacing_known=True) == "2 cm"
    # the scale bar is drawn in pixels: it differs from the one the same image in mm gets
    measured = Volume(volume.array, volume.spacing, is_hu=False)
    assert not np.array_equal(key_image(volume, None, 0), key_image(measured, None, 0))


def test_not_assessed_is_said_with_its_reason_and_nothing_else(tmp_path: Path) -> None:
    volume, _ = hand_case()
    volume.files = [str(tmp_path / f"{k}.dcm") for k in range(volume.n_slices)]  # never read
    reason = "no installed model fits a head CT (models: chest)"
    result = Result.not_assessed(volume, reason)
    verdict = report_verdict(result, {})
    assert verdict.headline == "Not assessed" and verdict.colour != STATE_COLOURS["clear"]
    outputs = export_report(volume, result, tmp_path / "r.pdf", dicom_dir=tmp_path / "dicom")
    text = " ".join(pdf_text(outputs.pdf).split())
    assert "Not assessed" in text and reason in text
    assert "above threshold" not in text and "No region" not in text
    assert "Key images" not in text and "Per-slice score" not in text and "nan" not in text
    assert outputs.dicom.segmentation is None and outputs.dicom.key_images == []
    assert "not assessed" in outputs.dicom.note and "\n" not in outputs.dicom.note
    assert list((tmp_path / "dicom").glob("*")) == []


def test_cli_says_in_one_line_that_a_not_assessed_series_gets_no_seg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import ctviewer.pipeline
    from ctviewer.cli.main import main
    from ctviewer.synth.phantom import make_phantom, write_dicom_series

    folder = tmp_path / "series"
    write_dicom_series(make_phantom((3, 32, 32), seed=2), folder)
    reason = "no installed model fits this series"
    monkeypatch.setattr(
        ctviewer.pipeline, "detect", lambda volume, *a, **k: Result.not_assessed(volume, reason)
    )
    argv = ["report", str(folder), "--out", str(tmp_path / "r.pdf"), "--dicom"]
    assert main([*argv, str(tmp_path / "dicom")]) == 0
    lines = capsys.readouterr().out.splitlines()
    notes = [line for line in lines if line.startswith("dicom: ")]
    assert notes == [
        f"dicom: not assessed ({reason}): nothing was segmented, so no SEG or key image was "
        "written, nor an SR (no finding and no measurement to report)"
    ]
    assert "dicom_seg: None" in lines and not list((tmp_path / "dicom").glob("*.dcm"))
