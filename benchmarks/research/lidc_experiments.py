"""LIDC nodule slices: pixel-level check of the head-CT recipe's anomaly map (standalone).

71 lung-segmented slices of 5 patients, every one with a nodule mask; there are no normal slices,
so training is leave-one-patient-out on the other patients' slices (nodules are < 1 % of the lung
pixels; no mask is used for training). Restoration AE with synthetic nodules (bright lobulated
blobs inside the lung mask) + coarse noise; map = median-filtered positive residual in the eroded
lung. Reports pixel AUROC (all lung pixels of all held-out slices pooled) and how often the map's
peak (after Gaussian smoothing) lies on the nodule (mask dilated by 2 px at 128²).

  python lidc_experiments.py                 # AE, leave-one-patient-out
  python lidc_experiments.py --control       # constant reconstruction (bright pixels), no AE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from headct_experiments import recon, train
from headct_prep import crop_square
from scipy import ndimage as ndi
from scipy.stats import rankdata

DATA = Path("/work/shared/data/anomaly/lidc_nodule_slices")
LEVEL = 0.15  # normalised lung parenchyma level used by the control


def pixel_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    r = rankdata(scores)
    npos = labels.sum()
    nneg = len(labels) - npos
    return float((r[labels].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def load(size: int) -> dict[str, np.ndarray]:
    """Crop every slice to its lung bounding box (square), resize; x scaled to ~[0, 1]."""
    xs, lungs, masks, pats = [], [], [], []
    for f in sorted(DATA.glob("*/*.npz")):
        d = np.load(f)
        img, nod = d["image"], d["mask"]
        lung = ndi.binary_fill_holes(np.abs(img) > 1e-6) | nod
        x, lm = crop_square(np.clip(img / 2, -0.1, 1.2).astype(np.float32), lung, size)
        m, _ = crop_square(nod.astype(np.float32), lung, size)
        xs.append((x + 0.1 * lm).astype(np.float32))  # lung ~0.1-0.2, outside 0
        lungs.append(ndi.binary_erosion(lm, iterations=1))
        masks.append(m > 0.5)
        pats.append(f.parent.name)
    return {
        "norm": np.stack(xs),
        "brain": np.stack(lungs),
        "mask": np.stack(masks),
        "patient": np.array(pats),
    }


def synth_nodule(img: np.ndarray, lung: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """1-3 lobulated solid blobs (radius 1.5-10 px at 128²) with soft edges inside the lung."""
    h, w = img.shape
    f = h / 128
    out = img.copy()
    pts = np.argwhere(ndi.binary_erosion(lung, iterations=2))
    if len(pts) < 10:
        return out
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(rng.integers(1, 4)):
        cy, cx = pts[rng.integers(len(pts))]
        r = rng.uniform(1.5, 10) * f
        noise = ndi.gaussian_filter(rng.standard_normal((h, w)), 2 * f) * 3 * f
        m = (((yy - cy) ** 2 + (xx - cx) ** 2) / r**2 + noise < 1) & lung
        if m.sum() < 2:
            continue
        alpha = ndi.gaussian_filter(m.astype(np.float32), 0.7 * f)
        out = (1 - alpha) * out + alpha * rng.uniform(0.35, 0.7)
    return out.astype(np.float32)


def maps_for(x, rec, lung) -> np.ndarray:
    pos = np.clip(x - rec, 0, None)
    inner = [ndi.binary_erosion(m, iterations=1) for m in lung]
    return np.stack([ndi.median_filter(p, 3) * m for p, m in zip(pos, inner, strict=True)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--bneck", type=int, default=16)
    ap.add_argument("--aug", type=float, default=1.0)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--synth", type=float, default=0.5)
    ap.add_argument("--control", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    d = load(a.size)
    all_maps = np.zeros_like(d["norm"])
    for p in np.unique(d["patient"]):
        test = d["patient"] == p
        if a.control:
            rec = np.full_like(d["norm"][test], LEVEL)
        else:
            model = train(d["norm"][~test], d["brain"][~test], a, a.seed, synth=synth_nodule)
            rec = recon(model, d["norm"][test])
        all_maps[test] = maps_for(d["norm"][test], rec, d["brain"][test])
        print(f"fold {p}: {test.sum()} slices", flush=True)
    lung = d["brain"]
    pa = pixel_auroc(all_maps[lung], d["mask"][lung])
    hits = []
    for m, nod in zip(all_maps, d["mask"], strict=True):
        sm = ndi.gaussian_filter(m, 1.5)
        iy, ix = np.unravel_index(np.argmax(sm), sm.shape)
        hits.append(bool(ndi.binary_dilation(nod, iterations=2)[iy, ix]))
    name = "control (constant reconstruction)" if a.control else "AE restoration + synth nodules"
    print(
        f"RESULT lidc {name}: pixel AUROC {pa:.3f} | top-peak hit rate {np.mean(hits):.3f}"
        f" ({sum(hits)}/{len(hits)} slices)",
        flush=True,
    )


if __name__ == "__main__":
    main()
