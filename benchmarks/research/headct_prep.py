"""Head-CT PNG preprocessing for the research experiments (standalone: numpy, scipy, PIL).

Per image: gray [0,1] -> head mask (threshold, largest component, fill holes; removes letter
marks outside the head) -> crop to the head bounding box, pad to a square, resize to SIZE ->
brain (parenchyma) mask by skull stripping -> intensity normalisation anchored on the brain
median and IQR.  Results are cached as one .npz per split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

DATA = Path("/work/shared/data/anomaly/head_ct_hemorrhage")
CACHE = Path("/tmp/headct_research_cache")
SIZE = 128
BRAIN_LEVEL = 0.45  # normalised brain median
BRAIN_SPREAD = 0.08  # normalised brain IQR


def load_gray(path: Path) -> np.ndarray:
    """8-bit gray/RGB/RGBA PNG -> float32 [0,1] (alpha composited on black)."""
    im = Image.open(path)
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = ndi.sum(mask, lab, index=np.arange(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))


def head_mask(gray: np.ndarray) -> np.ndarray:
    """Threshold above the background, open (cut thin text/marks), largest component, fill."""
    bg = np.percentile(gray, 2)
    m = gray > max(bg + 0.08, 0.1)
    m = ndi.binary_opening(m, iterations=2)
    m = largest_component(m)
    return ndi.binary_fill_holes(m)


def crop_square(gray: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the mask's bounding box, zero outside the mask, pad to square, resize."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    g = np.where(mask, gray, 0.0)[y0:y1, x0:x1]
    m = mask[y0:y1, x0:x1]
    h, w = g.shape
    s = max(h, w) + 4
    gp = np.zeros((s, s), np.float32)
    mp = np.zeros((s, s), np.float32)
    oy, ox = (s - h) // 2, (s - w) // 2
    gp[oy : oy + h, ox : ox + w] = g
    mp[oy : oy + h, ox : ox + w] = m
    gi = np.asarray(Image.fromarray(gp).resize((size, size), Image.BILINEAR))
    mi = np.asarray(Image.fromarray(mp).resize((size, size), Image.BILINEAR)) > 0.5
    return gi.astype(np.float32), mi


def brain_mask(gray: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Skull stripping: bone = brightest head pixels; brain = largest non-bone, non-air component
    away from the head outline, opened to cut thin scalp bridges, holes filled (so saturated
    hyperdensities enclosed by brain stay inside)."""
    vals = gray[head]
    bone_t = max(np.percentile(vals, 97) - 0.05, np.percentile(vals, 50) + 0.25)
    bone = (gray >= bone_t) & head
    dist = ndi.distance_transform_edt(head)
    air = gray < 0.2 * np.percentile(vals, 50)  # sinuses, mastoid cells
    inner = head & ~bone & ~air & (dist > 0.02 * gray.shape[0])
    inner = ndi.binary_opening(inner, iterations=2)
    brain = largest_component(inner)
    brain = ndi.binary_fill_holes(brain)
    # bone pulled in by the hole filling but connected to the skull (skull base, petrous bone,
    # falx calcification touching the vault) is not parenchyma: drop it; enclosed islands stay
    lab, _ = ndi.label(bone, structure=np.ones((3, 3)))
    skull_ids = np.unique(lab[bone & ~ndi.binary_dilation(brain, iterations=2)])
    brain &= ~np.isin(lab, skull_ids[skull_ids > 0])
    brain = largest_component(ndi.binary_opening(brain, iterations=1))
    return ndi.binary_erosion(brain, iterations=1)


def normalise(
    gray: np.ndarray, head: np.ndarray, brain: np.ndarray, mode: str = "iqr"
) -> np.ndarray:
    """Affine map so brain median -> BRAIN_LEVEL and brain spread -> BRAIN_SPREAD (undoes the
    unknown window/level of each published image). Clipped to [0, 1.5]; 0 outside the head.
    mode "iqr": spread = IQR of the brain pixels. mode "lower": spread = 2 x (median - 25th
    percentile) of the 3x3-median-filtered brain: the lower half is not inflated by large
    hyperdense lesions, and the filter keeps image noise from inflating it."""
    if mode == "lower":
        q25, q50 = np.percentile(ndi.median_filter(gray, 3)[brain], [25, 50])
        spread = 2 * (q50 - q25)
    else:
        q25, q50, q75 = np.percentile(gray[brain], [25, 50, 75])
        spread = q75 - q25
    out = (gray - q50) / max(spread, 0.02) * BRAIN_SPREAD + BRAIN_LEVEL
    return np.where(head, np.clip(out, 0.0, 1.5), 0.0).astype(np.float32)


def preprocess(path: Path, size: int = SIZE, norm: str = "iqr") -> dict[str, np.ndarray]:
    gray = load_gray(path)
    head = head_mask(gray)
    g, h = crop_square(gray, head, size)
    b = brain_mask(g, h)
    return {"raw": g, "head": h, "brain": b, "norm": normalise(g, h, b, norm)}


def load_split(split: str, size: int = SIZE, norm: str = "iqr") -> dict[str, np.ndarray]:
    """split: 'train', 'dev', or any folder; returns stacked arrays plus labels and names."""
    if size < SIZE:  # masks are computed at SIZE, then block-averaged down
        d = load_split(split, SIZE, norm)
        f = SIZE // size
        pool = lambda a: a.reshape(len(a), size, f, size, f).mean((2, 4))  # noqa: E731
        out = {"raw": pool(d["raw"]), "norm": pool(d["norm"])}
        out |= {k: pool(d[k].astype(np.float32)) > 0.5 for k in ("head", "brain")}
        return out | {"label": d["label"], "name": d["name"]}
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / f"{split}_{size}_v2{'' if norm == 'iqr' else '_' + norm}.npz"
    if cache.exists():
        return dict(np.load(cache))
    files = sorted((DATA / split).glob("*/*.png"))
    items = [preprocess(f, size, norm) for f in files]
    out = {k: np.stack([it[k] for it in items]) for k in items[0]}
    out["label"] = np.array([f.parent.name != "normal" for f in files], dtype=np.int64)
    out["name"] = np.array([f"{f.parent.name}/{f.name}" for f in files])
    np.savez_compressed(cache, **out)
    return out


def montage(split: str, out: Path, key: str = "norm") -> None:
    d = load_split(split)
    imgs = []
    for g, b in zip(d[key], d["brain"], strict=True):
        rgb = np.stack([np.clip(g, 0, 1)] * 3, -1)
        edge = b & ~ndi.binary_erosion(b)
        rgb[edge] = (1.0, 0.0, 0.0)
        imgs.append((rgb * 255).astype(np.uint8))
    n = 10
    while len(imgs) % n:
        imgs.append(np.zeros_like(imgs[0]))
    rows = [np.concatenate(imgs[i : i + n], 1) for i in range(0, len(imgs), n)]
    Image.fromarray(np.concatenate(rows, 0)).save(out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--montage", type=Path, help="write montages of train and dev to this folder")
    a = ap.parse_args()
    for s in ("train", "dev"):
        d = load_split(s)
        print(s, d["norm"].shape, "brain fraction", d["brain"].mean().round(3))
    if a.montage:
        a.montage.mkdir(parents=True, exist_ok=True)
        for s in ("train", "dev"):
            montage(s, a.montage / f"{s}_prep.png")
