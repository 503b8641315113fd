"""Detection benchmarks: speed, and lesion-level quality on phantoms and on real chest CT.

    .venv/bin/python benchmarks/bench_detect.py speed [--slices 300] [--size 512] [--threads 2]
    .venv/bin/python benchmarks/bench_detect.py phantoms [--model M] [--volumes 15]
    .venv/bin/python benchmarks/bench_detect.py lung1 [--model M] [--data DIR]
    .venv/bin/python benchmarks/bench_detect.py lidc [--model M] [--data DIR]

`speed` is `ctviewer bench`. `phantoms` inserts lesions into phantoms whose seeds the bundled
model's training never used: every kind (nodule, ground glass, liver, consolidation,
juxtapleural) in turn, 1-3 per volume, at least `--min-radius` mm in radius (2.5: lesions of 5 mm
and more). A lesion is found when a finding overlaps it; a finding that overlaps no lesion is a
false positive. As many phantoms without lesions give the false positives on normal anatomy.

`lung1` runs the real chest CT `lung1` (15 mm nodule on slices 32-34): is the nodule a finding,
how many findings lie elsewhere, and how much of it the scoring region keeps. `lidc` scores the
71 LIDC-IDRI nodule slices (lung-segmented, normalised values, no HU). Their values are mapped to
HU with one fixed line anchored on anatomy, not on the nodules: aerated lung (about -0.05) to
about -830 HU and soft tissue (about 1.4) to about 40 HU, i.e. HU = 600 v - 800; what lies outside
the segmented lungs (zero) becomes soft tissue inside a body outline (the lungs' hull, dilated)
and air beyond, so that each slice reads as an axial chest slice. Reported: pixel AUROC of the
map over the lung pixels of all slices pooled, and how often the top finding (strongest peak)
overlaps the nodule.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ctviewer.anomaly.score import auroc
from ctviewer.cli.main import main as ctviewer_main
from ctviewer.model.checkpoint import load_model
from ctviewer.model.preprocess import prepare_volume, restore
from ctviewer.pipeline import detect
from ctviewer.synth.lesions import KINDS, RADIUS_RANGE_MM, Lesion
from ctviewer.synth.phantom import make_phantom
from ctviewer.volume import Volume

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "anomaly"
LIDC_HU = (600.0, -800.0)  # HU = a * value + b for the normalised LIDC slices
LIDC_SPACING_MM = 0.7  # typical LIDC pixel size (the slices do not carry theirs)


def _lesions(rng: np.random.Generator, first: int, n: int, min_radius: float) -> list[Lesion]:
    """`n` lesions of the kinds after `first` in turn, random size (at least `min_radius`)."""
    lesions = []
    for j in range(n):
        kind = KINDS[(first + j) % len(KINDS)]
        low, high = RADIUS_RANGE_MM[kind]
        radius = max(min_radius, float(rng.uniform(low, high)))
        hu = None
        if kind == "liver" and rng.random() < 0.3:
            hu = float(rng.uniform(100, 130))
        lesions.append(
            Lesion(
                kind,  # type: ignore[arg-type]
                radius_mm=round(radius, 1),
                hu=hu,
                lobulation=float(rng.uniform(0.05, 0.25)),
                seed=int(rng.integers(2**31)),
            )
        )
    return lesions


def lesion_quality(
    model_path: Path | None, volumes: int, shape: tuple[int, int, int], min_radius_mm: float
) -> dict:
    model = load_model(model_path, device="cpu")
    by_kind: dict[str, list[bool]] = {}
    fp_lesion, fp_normal, flagged_sick, flagged_normal, not_assessed = 0, 0, 0, 0, 0
    for i in range(volumes):
        rng = np.random.default_rng(5000 + i)
        lesions = _lesions(rng, 2 * i, 1 + i % 3, min_radius_mm)
        phantom = make_phantom(shape=shape, seed=5000 + i, lesions=lesions)
        result = detect(phantom.volume, model)
        not_assessed += not result.assessed
        flagged_sick += result.abnormal
        for k, lesion in enumerate(phantom.lesions, start=1):
            hit = bool(result.labels[phantom.lesion_labels == k].any())
            by_kind.setdefault(lesion.kind, []).append(hit)
        fp_lesion += sum(not phantom.mask[result.labels == f.id].any() for f in result.findings)
        normal = detect(make_phantom(shape=shape, seed=6000 + i).volume, model)
        not_assessed += not normal.assessed
        fp_normal += len(normal.findings)
        flagged_normal += normal.abnormal
    hits = [h for v in by_kind.values() for h in v]
    return {
        "model": model.info.version,
        "shape": list(shape),
        "lesions": len(hits),
        "min_radius_mm": min_radius_mm,
        "sensitivity": round(float(np.mean(hits)), 3),
        "sensitivity_by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())},
        "false_positives_per_volume_with_lesions": round(fp_lesion / volumes, 2),
        "false_positives_per_normal_volume": round(fp_normal / volumes, 2),
        "series_flagged_with_lesions": f"{flagged_sick}/{volumes}",
        "series_flagged_normal": f"{flagged_normal}/{volumes}",
        "not_assessed": not_assessed,
    }


def lung1(model_path: Path | None, folder: Path) -> dict:
    """The real chest CT with its nodule: found, false findings, scoring-region overlap."""
    import SimpleITK as sitk

    from ctviewer.io import load_inputs

    image, label = folder / "lung1_image.nrrd", folder / "lung1_label.nrrd"
    if not image.exists():
        return {"skipped": f"{image} not found"}
    model = load_model(model_path, device="cpu")
    volume = next(iter(load_inputs([image])))
    nodule = sitk.GetArrayFromImage(sitk.ReadImage(str(label))) > 0
    start = time.time()
    result = detect(volume, model)
    seconds = time.time() - start
    prepared = prepare_volume(volume, model.preprocessing)
    region = restore(prepared.body.astype(np.float32), prepared.box, volume.shape[1:]) > 0.5
    on = [f for f in result.findings if nodule[result.labels == f.id].any()]
    return {
        "model": model.info.version,
        "assessed": result.assessed,
        "nodule_found": bool(on),
        "nodule_finding_rank": result.findings.index(on[0]) + 1 if on else None,
        "false_findings": len(result.findings) - len(on),
        "nodule_map_peak": round(float(result.anomaly_map[nodule].max()), 4),
        "map_peak_elsewhere": round(float(result.anomaly_map[~nodule].max()), 4),
        "nodule_in_scoring_region": round(float(region[nodule].mean()), 3),
        "seconds": round(seconds, 1),
    }


def lidc_volume(values: np.ndarray) -> tuple[Volume, np.ndarray]:
    """A normalised, lung-segmented LIDC slice as a one-slice CT volume in HU (see the module
    docstring), and its lung region."""
    lung = ndimage.binary_fill_holes(values != 0)
    size = values.shape[0]
    body = ndimage.binary_dilation(
        ndimage.binary_fill_holes(_hull(lung)), iterations=max(1, size // 24)
    )
    a, b = LIDC_HU
    hu = np.where(lung, a * values + b, np.where(body, 40.0, -1000.0)).astype(np.float32)
    spacing = (2.5, LIDC_SPACING_MM, LIDC_SPACING_MM)
    volume = Volume(
        array=np.rint(hu)[None],
        spacing=spacing,
        origin=(0.0, 0.0, 0.0),
        direction=np.eye(3),
        source="LIDC slice",
        window=(-600.0, 1500.0),
    )
    volume.meta = {"Modality": "CT", "BodyPartExamined": "CHEST"}
    return volume, lung


def _hull(mask: np.ndarray) -> np.ndarray:
    from skimage.morphology import convex_hull_image

    return convex_hull_image(mask) if mask.any() else mask


def lidc(model_path: Path | None, folder: Path) -> dict:
    """Pixel AUROC over the lungs and top-finding hit rate on the LIDC nodule slices."""
    files = sorted(folder.glob("*/*.npz"))
    if not files:
        return {"skipped": f"no LIDC slices in {folder}"}
    model = load_model(model_path, device="cpu")
    scores, labels = [], []
    top_hits, peak_hits, assessed, with_findings = 0, 0, 0, 0
    for path in files:
        with np.load(path) as data:
            values, nodule = data["image"].astype(np.float32), data["mask"].astype(bool)
        volume, lung = lidc_volume(values)
        result = detect(volume, model)
        if not result.assessed:
            continue
        assessed += 1
        amap = result.anomaly_map[0]
        scores.append(amap[lung | nodule])
        labels.append(nodule[lung | nodule])
        peak_hits += bool(nodule.ravel()[int(np.argmax(amap))])
        if result.findings:
            with_findings += 1
            top_hits += bool(nodule[result.labels[0] == result.findings[0].id].any())
    pooled = np.concatenate(scores) if scores else np.zeros(0)
    truth = np.concatenate(labels) if labels else np.zeros(0, bool)
    return {
        "model": model.info.version,
        "slices": len(files),
        "assessed": assessed,
        "hu_mapping": f"HU = {LIDC_HU[0]:g} * value + {LIDC_HU[1]:g}",
        "pixel_auroc": round(auroc(pooled, truth), 3) if truth.any() else None,
        "top_finding_on_nodule": f"{top_hits}/{len(files)}",
        "top_finding_rate": round(top_hits / len(files), 3),
        "slices_with_findings": with_findings,
        "map_peak_on_nodule": f"{peak_hits}/{len(files)}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    speed = sub.add_parser("speed")
    speed.add_argument("rest", nargs=argparse.REMAINDER, help="options of `ctviewer bench`")
    quality = sub.add_parser("phantoms")
    quality.add_argument("--volumes", type=int, default=15)
    quality.add_argument("--shape", type=int, nargs=3, default=(64, 256, 256))
    quality.add_argument("--min-radius", type=float, default=2.5, help="enlarge smaller lesions")
    real = [sub.add_parser("lung1"), sub.add_parser("lidc")]
    real[0].add_argument("--data", type=Path, default=DATA / "chest_ct_volumes")
    real[1].add_argument("--data", type=Path, default=DATA / "lidc_nodule_slices")
    for p in (quality, *real):
        p.add_argument("--model", type=Path, default=None)
        p.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.what == "speed":
        return ctviewer_main(["bench", *args.rest])
    torch.set_num_threads(args.threads)
    if args.what == "phantoms":
        figures = lesion_quality(args.model, args.volumes, tuple(args.shape), args.min_radius)
    elif args.what == "lung1":
        figures = lung1(args.model, args.data)
    else:
        figures = lidc(args.model, args.data)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
