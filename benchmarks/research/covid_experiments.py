"""COVID-CT transfer of the head-CT recipe (standalone research script).

Same AE, restoration training with synthetic lesions + coarse noise, positive-residual top-k score
and normal-only calibration as `headct_experiments.py`, with the organ mask switched from brain to
lungs and the synthetic lesions switched from hyperdense blood to ground-glass / consolidation
patches. Train on covid_ct/train/noncovid (minus 10 held back), AUROC covid vs noncovid on dev.

  python covid_experiments.py --synth 0.5 --noise 0.05 --seeds 0 1 2
  python covid_experiments.py --control          # no-learning control (constant reconstruction)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from headct_experiments import evaluate, holdout_split, recon, report, score_all, train
from headct_prep import crop_square, largest_component, load_gray
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

DATA = Path("/work/shared/data/anomaly/covid_ct")
CACHE = Path("/tmp/headct_research_cache")
LUNG_LEVEL, SOFT_LEVEL = 0.15, 0.75  # normalised lung / soft-tissue medians


def preprocess(path: Path, size: int = 128) -> dict[str, np.ndarray]:
    """Body mask (largest bright component, holes filled) -> pad/resize -> lungs = large dark
    components inside the body's convex hull (closed, holes filled) -> two-anchor normalisation
    (lung median -> 0.15, soft-tissue median -> 0.75)."""
    gray = load_gray(path)
    body = gray > max(np.percentile(gray, 2) + 0.08, 0.1)
    body = ndi.binary_fill_holes(largest_component(ndi.binary_opening(body, iterations=2)))
    everything = np.ones_like(body)
    g, _ = crop_square(gray, everything, size)  # pad to square + resize, no crop
    inside = convex_hull_image(crop_square(body.astype(np.float32), everything, size)[0] > 0.5)
    v = g[inside] if inside.sum() > 100 else g.ravel()
    t = 0.5 * (np.percentile(v, 10) + np.percentile(v, 90))
    dark = ndi.binary_opening((g < t) & ndi.binary_erosion(inside, iterations=2), iterations=1)
    lab, n = ndi.label(dark)
    sizes = ndi.sum(dark, lab, index=np.arange(1, n + 1))
    lung = np.isin(lab, 1 + np.flatnonzero(sizes > 0.02 * size * size))
    lung = ndi.binary_fill_holes(ndi.binary_closing(lung, iterations=2))
    lung = ndi.binary_erosion(lung, iterations=1)
    ql = np.median(g[lung]) if lung.any() else 0.0
    soft = inside & ~lung & (g >= t)
    qs = np.median(g[soft]) if soft.any() else ql + 0.5
    x = (g - ql) / max(qs - ql, 0.05) * (SOFT_LEVEL - LUNG_LEVEL) + LUNG_LEVEL
    return {"norm": np.clip(x, 0, 1.5).astype(np.float32), "brain": lung}


def load(split: str, size: int) -> dict[str, np.ndarray]:
    cache = CACHE / f"covid_{split}_{size}.npz"
    if cache.exists():
        return dict(np.load(cache))
    files = sorted(f for f in (DATA / split).glob("*/*") if f.suffix.lower() in (".png", ".jpg"))
    items = [preprocess(f, size) for f in files]
    out = {k: np.stack([it[k] for it in items]) for k in items[0]}
    out["label"] = np.array([f.parent.name == "covid" for f in files], dtype=np.int64)
    out["name"] = np.array([f"{f.parent.name}/{f.name}" for f in files])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **out)
    return out


def synth_lung(img: np.ndarray, lung: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-4 ground-glass (hazy, +0.1..0.35) or consolidation (towards soft tissue) patches inside
    the lung mask, irregular outlines, soft edges; vessels keep showing through ground glass."""
    h, w = img.shape
    f = h / 128
    out = img.copy()
    pts = np.argwhere(lung)
    if len(pts) < 20:
        return out
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(rng.integers(1, 5)):
        cy, cx = pts[rng.integers(len(pts))]
        a, b = rng.uniform(3, 20) * f, rng.uniform(3, 20) * f
        t = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
        v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
        noise = ndi.gaussian_filter(rng.standard_normal((h, w)), 3 * f) * 6 * f
        m = ((u / a) ** 2 + (v / b) ** 2 + noise < 1) & lung
        if m.sum() < 3:
            continue
        alpha = ndi.gaussian_filter(m.astype(np.float32), rng.uniform(1, 3) * f)
        if rng.random() < 0.7:  # ground glass
            out = out + alpha * rng.uniform(0.1, 0.35)
        else:  # consolidation
            out = (1 - alpha) * out + alpha * rng.uniform(0.5, 0.8)
    return out.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--bneck", type=int, default=16)
    ap.add_argument("--aug", type=float, default=1.0)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--synth", type=float, default=0.5)
    ap.add_argument("--control", action="store_true", help="constant reconstruction, no AE")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    tr, dev = load("train", 128), load("dev", 128)
    if a.size != 128:
        from headct_experiments import _pool

        f = 128 // a.size
        for d in (tr, dev):
            d["norm"] = np.stack([_pool(x, f) for x in d["norm"]])
            d["brain"] = np.stack([_pool(m.astype(np.float32), f) > 0.5 for m in d["brain"]])
    y = dev["label"]
    per = []
    for s in a.seeds:
        fit, hold = holdout_split(len(tr["norm"]), s)
        if a.control:
            rh = np.full_like(tr["norm"][hold], LUNG_LEVEL)
            rd = np.full_like(dev["norm"], LUNG_LEVEL)
        else:
            model = train(tr["norm"][fit], tr["brain"][fit], a, s, synth=synth_lung)
            rh, rd = recon(model, tr["norm"][hold]), recon(model, dev["norm"])
        sh = score_all(tr["norm"][hold], rh, tr["brain"][hold])
        sd = score_all(dev["norm"], rd, dev["brain"])
        per.append(evaluate(sh, sd, y))
        print(f"seed {s}: " + " ".join(f"{k}={v:.3f}" for k, v in per[-1]["auroc"].items()))
    name = "covid control" if a.control else f"covid AE synth={a.synth} noise={a.noise}"
    for k in per[0]["auroc"]:
        report(name, per, k)


if __name__ == "__main__":
    main()
