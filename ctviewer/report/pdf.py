"""The annotated PDF report (reportlab): header, model, verdict, findings with the reviewer's
decisions, per-slice score plot, key images, and the closing line. Decision support wording
throughout: the report never states a diagnosis.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image as PILImage
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ctviewer import __version__
from ctviewer.errors import CTViewerError
from ctviewer.feedback.store import Decision
from ctviewer.measurement import Measurement
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report
from ctviewer.report.deidentify import ReportHeader
from ctviewer.report.keyimages import MAX_KEY_IMAGES, key_findings, key_image, peak_slice
from ctviewer.report.verdict import report_verdict
from ctviewer.volume import Finding, Result, Volume

CLOSING_LINE = (
    "This report was produced by ctviewer as decision support. Highlighted regions are where the "
    "model could not reconstruct the image well; they are not a diagnosis. The final diagnosis "
    "rests with the radiologist."
)
KEY_IMAGE_WIDTH_MM = 72.0


@dataclass
class ReportContent:
    """Everything the PDF shows besides the images' pixels."""

    header: ReportHeader
    volume: Volume
    result: Result
    decisions: dict[int | None, Decision]  # finding id (None: whole series) → latest decision
    window: tuple[float, float]
    measurements: list[Measurement] = field(default_factory=list)  # the user's, on this series
    dicom: bool = False  # DICOM SEG/SC/SR are exported with this report


def decision_text(decision: Decision | None) -> str:
    """`accepted by Dr X, 2026-01-01 12:00 UTC`, or `not reviewed`."""
    return decision.describe() if decision is not None else "not reviewed"


def location_text(finding: Finding, spacing_known: bool = True) -> str:
    """Patient LPS mm; an image without a pixel size: x, y in its pixels."""
    x, y, z = finding.centroid_mm
    return f"{x:.1f}, {y:.1f}, {z:.1f}" if spacing_known else f"{x:.0f}, {y:.0f}"


def slice_range_text(finding: Finding) -> str:
    """Slice numbers as the viewer shows them: 1-based."""
    return f"{finding.slice_start + 1}–{finding.slice_end + 1}"


def _number(value: float, spec: str = ".4g") -> str:
    return format(value, spec) if np.isfinite(value) else "—"


def _threshold_text(result: Result) -> str:
    """The series threshold, and which calibration of the model it is ("4.69 mm slices")."""
    calibrated = f" (for {result.calibration})" if result.calibration else ""
    return _number(result.threshold) + calibrated


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("t", parent=base["Title"], fontSize=16, spaceAfter=2 * mm),
        "h2": ParagraphStyle(
            "h2", parent=base["Heading2"], fontSize=11.5, spaceBefore=4 * mm, spaceAfter=1.5 * mm
        ),
        "body": ParagraphStyle("b", parent=base["BodyText"], fontSize=9, leading=11.5),
        "cell": ParagraphStyle("c", parent=base["BodyText"], fontSize=7.5, leading=9),
        "small": ParagraphStyle(
            "s",
            parent=base["BodyText"],
            fontSize=7.5,
            leading=9,
            textColor=colors.HexColor("#444444"),
        ),
        "verdict": ParagraphStyle(
            "v", parent=base["BodyText"], fontSize=12, leading=15, fontName="Helvetica-Bold"
        ),
    }


def _grid(data: list[list], widths: Sequence[float], header_row: bool = True) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1 if header_row else 0, hAlign="LEFT")
    style = [
        ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#999999")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if header_row:
        style += [
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4e9f0")),
            ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ]
    table.setStyle(TableStyle(style))
    return table


def _header_table(content: ReportContent, s: dict[str, ParagraphStyle]) -> Table:
    h, model, result = content.header, content.result.model, content.result
    if content.volume.spacing_known:
        spacing = " × ".join(f"{v:.3g}" for v in content.volume.spacing) + " mm"
    else:
        spacing = "pixel size unknown"
    rows = [
        ["Patient", h.patient_name, "Patient ID", h.patient_id],
        ["Birth date", h.birth_date, "Study date", h.study_date],
        [
            "Series",
            Paragraph(escape(h.series_description or "—"), s["cell"]),
            "Slices",
            f"{content.volume.n_slices} ({spacing})",
        ],
        [
            "Model",
            Paragraph(escape(f"{model.name} {model.version}".strip()), s["cell"]),
            "Threshold",
            Paragraph(escape(_threshold_text(result)), s["cell"]),
        ],
        ["Device", model.device, "Window (C/W)", f"{content.window[0]:g} / {content.window[1]:g}"],
    ]
    table = _grid(rows, [24 * mm, 64 * mm, 24 * mm, 64 * mm], header_row=False)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold"),
                ("FONTNAME", (2, 0), (2, -1), "Helvetica-Bold"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f1f3f6")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#f1f3f6")),
            ]
        )
    )
    return table


def _findings_table(content: ReportContent, s: dict[str, ParagraphStyle]) -> Table:
    known = content.volume.spacing_known
    centre = "Centre x, y, z (mm)" if known else "Centre x, y (px)"
    rows: list[list] = [["#", "Slices", centre, "Size", "Peak", "Mean", "Reviewer's decision"]]
    for f in content.result.findings:
        rows.append(
            [
                str(f.id),
                slice_range_text(f),
                location_text(f, known),
                f.size_text(),
                f"{f.peak:.3g}",
                f"{f.mean:.3g}",
                Paragraph(escape(decision_text(content.decisions.get(f.id))), s["cell"]),
            ]
        )
    return _grid(rows, [7 * mm, 14 * mm, 34 * mm, 18 * mm, 13 * mm, 13 * mm, 77 * mm])


def score_plot(result: Result, width: float = 176 * mm, height: float = 30 * mm) -> Drawing:
    """Per-slice scores as a line, the threshold dashed, the findings' slice ranges shaded."""
    scores = np.asarray(result.slice_scores, dtype=float)
    drawing = Drawing(width, height)
    left, bottom, right, top = 34.0, 16.0, width - 6.0, height - 6.0
    n = max(len(scores), 1)
    y_max = max(float(scores.max()) if scores.size else 0.0, result.threshold) * 1.1 or 1.0

    def px(i: float) -> float:
        return left + (right - left) * (i / max(n - 1, 1))

    def py(v: float) -> float:
        return bottom + (top - bottom) * (v / y_max)

    for f in result.findings:
        x0, x1 = px(f.slice_start - 0.5 if n > 1 else 0), px(f.slice_end + 0.5 if n > 1 else 1)
        x0, x1 = max(x0, left), min(x1, right)
        drawing.add(
            Rect(
                x0,
                bottom,
                max(x1 - x0, 1.0),
                top - bottom,
                strokeColor=None,
                fillColor=colors.HexColor("#ffe3b3"),
            )
        )
    drawing.add(
        Rect(
            left,
            bottom,
            right - left,
            top - bottom,
            strokeColor=colors.grey,
            fillColor=None,
            strokeWidth=0.5,
        )
    )
    if scores.size:
        points = [c for i, v in enumerate(scores) for c in (px(i), py(v))]
        if len(scores) == 1:
            points += [px(1), py(scores[0])]
        drawing.add(PolyLine(points, strokeColor=colors.HexColor("#1f4e9a"), strokeWidth=1))
    y_thr = py(result.threshold)
    drawing.add(
        Line(
            left,
            y_thr,
            right,
            y_thr,
            strokeColor=colors.red,
            strokeWidth=0.8,
            strokeDashArray=[3, 2],
        )
    )
    drawing.add(
        String(
            right - 2,
            y_thr + 2,
            f"threshold {result.threshold:.3g}",
            fontSize=6.5,
            fillColor=colors.red,
            textAnchor="end",
        )
    )
    for value in (0.0, y_max / 1.1):
        drawing.add(String(left - 3, py(value) - 2, f"{value:.3g}", fontSize=6.5, textAnchor="end"))
    for i in sorted({0, n - 1, (n - 1) // 2}):  # labelled 1-based, as the viewer numbers slices
        drawing.add(String(px(i), bottom - 9, str(i + 1), fontSize=6.5, textAnchor="middle"))
    drawing.add(String((left + right) / 2, 1, "slice", fontSize=7, textAnchor="middle"))
    return drawing


def _png_flowable(image: np.ndarray, width: float) -> Image:
    buffer = io.BytesIO()
    PILImage.fromarray(image).save(buffer, format="PNG")
    buffer.seek(0)
    h, w = image.shape[:2]
    return Image(buffer, width=width, height=width * h / w)


def _key_image_cells(
    content: ReportContent,
    s: dict[str, ParagraphStyle],
    progress: ProgressFn | None,
    cancel: CancelFlag | None,
) -> list[list]:
    """One [image, caption] cell per key finding (`key_findings`)."""
    cells = []
    findings = key_findings(content.result, content.decisions)
    for done, f in enumerate(findings):
        check_cancel(cancel)
        z = peak_slice(content.result, f.id)
        pixels = key_image(
            content.volume, content.result, z, content.window, selected=f.id, width=480
        )
        where = f"slice {z + 1}"
        if content.volume.spacing_known:
            where += f" (z {content.volume.index_to_mm(z, 0, 0)[2]:.1f} mm)"
        caption = (
            f"<b>Finding {f.id}</b> — {where}, peak {f.peak:.3g}; "
            f"{escape(decision_text(content.decisions.get(f.id)))}"
        )
        cells.append(
            [_png_flowable(pixels, KEY_IMAGE_WIDTH_MM * mm), Paragraph(caption, s["small"])]
        )
        report(progress, 0.2 + 0.7 * (done + 1) / len(findings), f"key image {done + 1}")
    return cells


def _image_row(cells: list[list]) -> Table:
    """Two key images side by side (a row of its own, so pages break between rows)."""
    row = Table([cells + [""] * (2 - len(cells))], colWidths=[88 * mm, 88 * mm], hAlign="LEFT")
    row.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4 * mm),
            ]
        )
    )
    return row


def _findings_section(content: ReportContent, s: dict[str, ParagraphStyle]) -> list:
    if not content.result.findings:
        return [Paragraph("No region above the map threshold.", s["body"])]
    size = (
        "Size: voxel count × voxel volume."
        if content.volume.spacing_known
        else "Size: pixel count (the image has no physical pixel size)."
    )
    return [
        _findings_table(content, s),
        Paragraph(
            f"Centre: patient coordinates (DICOM LPS, mm). {size} Peak and mean: anomaly-map "
            "values inside the region. Slices are numbered from 1, as in the viewer.",
            s["small"],
        ),
    ]


def _key_images_section(
    content: ReportContent,
    s: dict[str, ParagraphStyle],
    progress: ProgressFn | None,
    cancel: CancelFlag | None,
) -> list:
    cells = _key_image_cells(content, s, progress, cancel)
    if not cells:
        if content.result.findings:
            return [Paragraph("No key images: the reviewer rejected every finding.", s["small"])]
        return []
    rows = [_image_row(cells[i : i + 2]) for i in range(0, len(cells), 2)]
    heading = [
        Paragraph("Key images", s["h2"]),
        Paragraph(
            "Each image is the slice where the finding peaks, at the report's window/level: "
            "colour = anomaly map, cyan outlines = findings, yellow box = the finding named "
            "below the image.",
            s["small"],
        ),
        Spacer(1, 2 * mm),
    ]
    story = [KeepTogether([*heading, rows[0]]), *rows[1:]]  # no heading left alone
    rejected = len(content.result.findings) - len(_not_rejected(content))
    beyond = len(content.result.findings) - rejected - len(cells)
    if rejected:
        where = " here or in the DICOM export" if content.dicom else ""
        story.append(
            Paragraph(
                f"{rejected} finding(s) rejected by the reviewer get no key image{where}; the "
                "findings table lists them.",
                s["small"],
            )
        )
    if beyond > 0:
        story.append(
            Paragraph(
                f"{beyond} further finding(s) beyond the {MAX_KEY_IMAGES} strongest are listed "
                "in the table only.",
                s["small"],
            )
        )
    return story


def _not_rejected(content: ReportContent) -> list[Finding]:
    return [
        f
        for f in content.result.findings
        if f.id not in content.decisions or content.decisions[f.id].decision != "reject"
    ]


def _measurements_section(content: ReportContent, s: dict[str, ParagraphStyle]) -> list:
    """The user's measurements: kind, slice (1-based), values; labels unless de-identified."""
    if not content.measurements:
        return []
    rows: list[list] = [["#", "Kind", "Slice", "Values", "Label"]]
    for number, m in enumerate(content.measurements, start=1):
        label = "" if content.header.deidentified else m.label
        rows.append(
            [
                str(number),
                m.kind,
                str(m.slice_index + 1),
                Paragraph(escape(m.summary(content.volume.spacing_known)), s["cell"]),
                Paragraph(escape(label), s["cell"]),
            ]
        )
    units = (
        "Lengths and areas in mm; ROI values in HU."
        if content.volume.spacing_known and content.volume.is_hu
        else "Lengths and areas in pixels where the image has no pixel size; ROI values in the "
        "image's own units where it is not in HU."
    )
    return [
        Paragraph("Measurements", s["h2"]),
        _grid(rows, [7 * mm, 18 * mm, 12 * mm, 95 * mm, 44 * mm]),
        Paragraph(f"Drawn by the reader on axial slices. {units}", s["small"]),
    ]


def build_story(
    content: ReportContent, progress: ProgressFn | None = None, cancel: CancelFlag | None = None
) -> list:
    """The report's flowables in order."""
    s = _styles()
    result = content.result
    verdict = report_verdict(result, content.decisions)
    story: list = [
        Paragraph("CT anomaly report — decision support", s["title"]),
        _header_table(content, s),
        Spacer(1, 3 * mm),
    ]
    if content.volume.warnings:
        story.append(Paragraph("Warnings about the input", s["h2"]))
        story += [Paragraph(f"• {escape(w)}", s["body"]) for w in content.volume.warnings]
        story.append(Spacer(1, 2 * mm))
    story += [
        Paragraph(
            f'<font color="{verdict.colour}">{escape(verdict.headline)}</font>', s["verdict"]
        ),
        Paragraph(escape(verdict.detail), s["body"]),
    ]
    series_decision = content.decisions.get(None)
    if series_decision is not None:
        story.append(
            Paragraph(f"Series-level review: {escape(decision_text(series_decision))}", s["body"])
        )
    if not result.assessed:  # no map, no findings, no scores: nothing else to show
        story.append(
            Paragraph(
                "The series was not analysed: there are no findings, scores or key images.",
                s["body"],
            )
        )
    else:
        story += [Paragraph("Findings", s["h2"]), *_findings_section(content, s)]
        story += [Paragraph("Per-slice score", s["h2"]), score_plot(result)]
        story += _key_images_section(content, s, progress, cancel)
    story += _measurements_section(content, s)
    story += [Spacer(1, 4 * mm), Paragraph(f"<b>{CLOSING_LINE}</b>", s["body"])]
    return story


def write_pdf(
    content: ReportContent,
    out: str | Path,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
) -> Path:
    """Write the report to `out` (written to a temporary name first, so no half-written PDF)."""
    out = Path(out)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = "CT anomaly report" + (" (de-identified)" if content.header.deidentified else "")

    def footer(canvas, doc) -> None:  # noqa: ANN001 (reportlab callback)
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(colors.grey)
        canvas.drawString(
            15 * mm,
            9 * mm,
            f"ctviewer {__version__} · generated {generated} · decision support, not a diagnosis",
        )
        canvas.drawRightString(A4[0] - 15 * mm, 9 * mm, f"page {doc.page}")
        canvas.restoreState()

    tmp = out.with_name(out.name + ".part")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = SimpleDocTemplate(
            str(tmp),
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=14 * mm,
            bottomMargin=16 * mm,
            title=title,
            author="ctviewer",
            subject="decision support",
        )
        story = build_story(content, progress, cancel)
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
        tmp.replace(out)
    except OSError as error:
        raise CTViewerError(f"cannot write the PDF ({error.strerror or error})", out) from None
    finally:
        tmp.unlink(missing_ok=True)
    report(progress, 1.0, "report written")
    return out
