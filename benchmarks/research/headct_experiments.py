"""Head-CT hemorrhage: autoencoder recipe experiments (standalone research script).

Trains a conv/deconv autoencoder on train/normal (minus a held-back calibration set of normals),
scores dev/normal vs dev/hemorrhage. Reports per seed: dev AUROC and accuracy at the threshold
calibrated on the held-back normals only (95th percentile of their scores).

Examples (each step of FINDINGS.md is one command line):
  python headct_experiments.py heuristic
  python headct_experiments.py ae --prep plain --score mae --seeds 0 1 2
  python headct_experiments.py ae --score pos_top1 --synth 0.5 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from headct_prep import BRAIN_LEVEL, BRAIN_SPREAD, load_split
from PIL import Image
from scipy import ndimage as ndi
from torch import nn

torch.set_num_threads(1)  # under CPU contention 1 thread is ~4x faster than 2
N_HOLDOUT = 10


# ----------------------------------------------------------------------------- metrics
def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUROC with ties counted half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt / (len(pos) * len(neg)))


def calibrated_accuracy(dev_s, dev_y, normal_s, q=0.95) -> tuple[float, float]:
    """Threshold = empirical q-quantile of the held-back normals' scores."""
    thr = float(np.quantile(normal_s, q))
    return float(((dev_s > thr) == dev_y).mean()), thr


def robust_threshold(normal_s: np.ndarray, z: float = 1.645) -> float:
    """95th percentile of a log-normal fitted robustly (median, 1.4826 MAD) to the held-back
    normals: with 10 normals the empirical 95 % quantile is just the most extreme normal."""
    lg = np.log(np.maximum(normal_s, 1e-8))
    med = np.median(lg)
    return float(np.exp(med + z * 1.4826 * np.median(np.abs(lg - med))))


# ----------------------------------------------------------------------------- data
def plain_split(split: str, size: int = 128) -> dict[str, np.ndarray]:
    """The baseline input: whole PNG as gray, resized to size², no crop/mask/normalisation."""
    from headct_prep import DATA, load_gray

    files = sorted((DATA / split).glob("*/*.png"))
    imgs = [
        np.asarray(Image.fromarray(load_gray(f)).resize((size, size), Image.BILINEAR))
        for f in files
    ]
    x = np.stack(imgs).astype(np.float32)
    ones = np.ones_like(x, dtype=bool)
    return {
        "norm": x,
        "head": ones,
        "brain": ones,
        "label": np.array([f.parent.name != "normal" for f in files], dtype=np.int64),
    }


def get_data(prep: str, size: int, norm: str) -> tuple[dict, dict]:
    if prep == "plain":
        return plain_split("train", size), plain_split("dev", size)
    return load_split("train", size, norm), load_split("dev", size, norm)


# ----------------------------------------------------------------------------- model
class AE(nn.Module):
    """ConvNet encoder (`levels` stride-2 convs down to 8x8) -> 1x1 conv bottleneck (bneck
    channels at 8x8) -> DeConvNet decoder (`levels` stride-2 transposed convs)."""

    def __init__(self, width: int = 16, bneck: int = 16, levels: int = 4):
        super().__init__()
        ch = [1] + [width * min(2**i, 4) for i in range(levels)]
        enc = []
        for a, b in zip(ch[:-1], ch[1:], strict=True):
            enc += [nn.Conv2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
            enc += [nn.Conv2d(b, b, 3, 1, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        self.enc = nn.Sequential(*enc, nn.Conv2d(ch[-1], bneck, 1))
        dec = [nn.Conv2d(bneck, ch[-1], 1), nn.LeakyReLU(0.2, True)]
        rev = ch[::-1]
        for a, b in zip(rev[:-2], rev[1:-1], strict=True):
            dec += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
            dec += [nn.Conv2d(b, b, 3, 1, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        dec += [nn.ConvTranspose2d(rev[-2], 1, 4, 2, 1)]
        self.dec = nn.Sequential(*dec)

    def forward(self, x):
        return self.dec(self.enc(x))


# ----------------------------------------------------------------------------- corruption
def synth_anomaly(img: np.ndarray, brain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paste 1-3 hyperdense lesions inside the brain mask (anatomy-aware, AnatPaste-style):
    irregular blobs (parenchymal), bands along the brain rim (sub/epidural crescents), or the
    filling of dark CSF spaces (intraventricular). Intensity: brain level + 2.5..8 IQR."""
    h, w = img.shape
    f = h / 128  # sizes below are in pixels at 128x128
    out = img.copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inner = ndi.binary_erosion(brain, iterations=max(1, round(3 * f)))
    if inner.sum() < 20:
        return out
    pts = np.argwhere(inner)
    for _ in range(rng.integers(1, 4)):
        kind = rng.choice(["blob", "blob", "crescent", "csf"])
        cy, cx = pts[rng.integers(len(pts))]
        if kind == "crescent":
            k = max(1, round(rng.integers(2, 7) * f))
            rim = brain & ~ndi.binary_erosion(brain, iterations=k)
            ang = np.arctan2(yy - h / 2, xx - w / 2)
            a0, span = rng.uniform(-np.pi, np.pi), rng.uniform(0.4, 1.6)
            d = np.angle(np.exp(1j * (ang - a0)))
            m = rim & (np.abs(d) < span / 2)
        else:
            a, b = rng.uniform(2, 18) * f, rng.uniform(2, 18) * f
            t = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
            v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
            noise = ndi.gaussian_filter(rng.standard_normal((h, w)), 3 * f) * 6 * f
            m = (u / a) ** 2 + (v / b) ** 2 + noise < 1
            if kind == "csf":
                m = m & (img < BRAIN_LEVEL - 1.5 * BRAIN_SPREAD)
            m = m & brain
        if m.sum() < 3:
            continue
        alpha = ndi.gaussian_filter(m.astype(np.float32), rng.uniform(0.5, 1.5) * f)
        alpha *= rng.uniform(0.6, 1.0)
        val = BRAIN_LEVEL + rng.uniform(2.5, 8.0) * BRAIN_SPREAD
        texture = 0.5 * (img - ndi.gaussian_filter(img, 2 * f))
        out = (1 - alpha) * out + alpha * (val + texture)
    return np.where(brain | (img > 0), out, img).astype(np.float32)


def coarse_noise(n: int, size: int, std: float, res: int, gen: torch.Generator) -> torch.Tensor:
    """Kascenas et al. 2022: Gaussian noise drawn at res x res and upsampled (smooth blobs)."""
    z = torch.randn(n, 1, res, res, generator=gen) * std
    return F.interpolate(z, size=(size, size), mode="bilinear", align_corners=False)


def augment(stack: torch.Tensor, gen: torch.Generator, strength: float) -> torch.Tensor:
    """Same random flip/rotation/scale/shift for every channel of each sample (bilinear)."""
    n = stack.shape[0]
    r = lambda lo, hi: torch.rand(n, generator=gen) * (hi - lo) + lo  # noqa: E731
    ang = r(-15, 15) * strength * math.pi / 180
    sc = 1 + r(-0.1, 0.1) * strength
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = r(-0.05, 0.05) * strength, r(-0.05, 0.05) * strength
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(stack.shape), align_corners=False)
    return F.grid_sample(stack, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# ----------------------------------------------------------------------------- training
def train(x, brain, args, seed: int, synth=None) -> AE:
    """Restoration training; `synth(img, mask, rng)` pastes lesions (default: hyperdense brain)."""
    synth = synth or synth_anomaly
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    model = AE(args.width, args.bneck, int(round(math.log2(args.size / 8))))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.steps)
    n = len(x)
    for step in range(args.steps):
        idx = rng.integers(0, n, args.batch)
        clean = x[idx]
        corrupt = clean.copy()
        if args.synth > 0:
            for i, j in enumerate(idx):
                if rng.random() < args.synth:
                    corrupt[i] = synth(clean[i], brain[j], rng)
        stack = torch.from_numpy(np.stack([clean, corrupt, brain[idx]], 1).astype(np.float32))
        if args.aug > 0:
            stack = augment(stack, gen, args.aug)
        tgt, inp = stack[:, :1], stack[:, 1:2].clone()
        if args.aug > 0:  # intensity jitter (same for input and target)
            g = 1 + (torch.rand(len(idx), 1, 1, 1, generator=gen) - 0.5) * 0.3 * args.aug
            b = (torch.rand(len(idx), 1, 1, 1, generator=gen) - 0.5) * 0.1 * args.aug
            head = (tgt > 0).float()
            tgt = ((tgt - BRAIN_LEVEL) * g + BRAIN_LEVEL + b) * head
            inp = ((inp - BRAIN_LEVEL) * g + BRAIN_LEVEL + b) * head
        if args.noise > 0:
            inp = inp + coarse_noise(
                len(idx), inp.shape[-1], args.noise, inp.shape[-1] // 8, gen
            ) * (tgt > 0)
        loss = (model(inp) - tgt).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if args.verbose and (step % 200 == 0 or step == args.steps - 1):
            print(f"  step {step} loss {loss.item():.4f}", flush=True)
    return model.eval()


@torch.inference_mode()
def recon(model: AE, x: np.ndarray) -> np.ndarray:
    return model(torch.from_numpy(x[:, None])).numpy()[:, 0]


# ----------------------------------------------------------------------------- scores
def _pool(a: np.ndarray, f: int) -> np.ndarray:
    h, w = a.shape
    return a.reshape(h // f, f, w // f, f).mean((1, 3))


def score_all(x, rec, brain, scale: int = 64) -> dict[str, np.ndarray]:
    """Several image scores from the same residuals (all in the eroded brain mask except mae).
    `*_64` variants first average the positive residual down to scale² (a lesion-sized scale);
    at 64² input they equal the plain ones."""
    keys = ("mae", "mae_brain", "pos_mean", "pos_top1", "pos_top5", "pos_area")
    out: dict[str, list[float]] = {k: [] for k in keys + ("pos_top1_64", "pos_top5_64")}
    for xi, ri, bi in zip(x, rec, brain, strict=True):
        res = xi - ri
        m = ndi.binary_erosion(bi, iterations=2) if bi.sum() < bi.size else bi
        pos = ndi.median_filter(np.clip(res, 0, None), 3) * m
        v = np.sort(pos[m])[::-1]
        out["mae"].append(float(np.abs(res).mean()))
        out["mae_brain"].append(float(np.abs(res[m]).mean()))
        out["pos_mean"].append(float(v.mean()))
        out["pos_top1"].append(float(v[: max(1, len(v) // 100)].mean()))
        out["pos_top5"].append(float(v[: max(1, len(v) // 20)].mean()))
        out["pos_area"].append(float((v > 2 * BRAIN_SPREAD).sum() / len(v)))
        f = max(1, xi.shape[0] // scale)
        ms = _pool(bi.astype(np.float32), f) > 0.5
        ms = ndi.binary_erosion(ms, iterations=2) if ms.sum() < ms.size else ms
        ps = ndi.median_filter(_pool(np.clip(res, 0, None), f), 3) * ms
        vs = np.sort(ps[ms])[::-1]
        out["pos_top1_64"].append(float(vs[: max(1, len(vs) // 100)].mean()))
        out["pos_top5_64"].append(float(vs[: max(1, len(vs) // 20)].mean()))
    return {k: np.array(v) for k, v in out.items()}


def constant_scores(d: dict, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Control: the AE scores with a constant reconstruction (= brain level), no learning."""
    x = d["norm"][idx]
    return score_all(x, np.full_like(x, BRAIN_LEVEL), d["brain"][idx])


def heuristic(x, brain, k: float = 3.0) -> np.ndarray:
    """Fraction of brain pixels brighter than brain level + k IQR (no learning)."""
    m = [ndi.binary_erosion(b, iterations=2) for b in brain]
    t = BRAIN_LEVEL + k * BRAIN_SPREAD
    return np.array([(xi[mi] > t).mean() for xi, mi in zip(x, m, strict=True)])


def _ms(v: np.ndarray) -> str:
    return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}"


def report(name: str, per_seed: list[dict], score: str) -> None:
    """One RESULT line: mean ± sd over seeds of AUROC and the three calibrated accuracies."""
    get = lambda key: np.array([r.get(key, r["acc"])[score] for r in per_seed])  # noqa: E731
    au, ac, ar, aa = get("auroc"), get("acc"), get("acc_rob"), get("acc_all")
    sy = get("syn_auroc") if "syn_auroc" in per_seed[0] else np.full(len(au), np.nan)
    print(
        f"RESULT {name} score={score}: AUROC {_ms(au)} | acc@cal {_ms(ac)} | acc@robust {_ms(ar)}"
        f" | acc@q95(train+held) {_ms(aa)} | synthetic AUROC {_ms(sy)}"
        f" | per-seed AUROC {np.round(au, 3).tolist()}"
        f" acc {np.round(ac, 3).tolist()} accrob {np.round(ar, 3).tolist()}",
        flush=True,
    )


def dump(folder, seed, score, tr, hold, rh, dev, rd, sh, sd) -> None:
    """Per-image scores (sorted) and a montage: input | reconstruction | positive residual."""
    from pathlib import Path

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"hold:{n}" for n in tr["name"][hold]] + list(dev["name"])
    x = np.concatenate([tr["norm"][hold], dev["norm"]])
    r = np.concatenate([rh, rd])
    b = np.concatenate([tr["brain"][hold], dev["brain"]])
    sc = np.concatenate([sh[score], sd[score]])
    order = np.argsort(-sc)
    lines = [f"{sc[i]:.4f} {names[i]}" for i in order]
    (out / f"scores_seed{seed}.txt").write_text("\n".join(lines) + "\n")
    tiles = []
    for i in order:
        pos = np.clip(x[i] - r[i], 0, None) * b[i] / (4 * BRAIN_SPREAD)
        tiles.append(np.concatenate([x[i], r[i], pos], 1))
    cols = 5
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[j : j + cols], 1) for j in range(0, len(tiles), cols)]
    img = (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8)
    Image.fromarray(img).save(out / f"montage_seed{seed}.png")


def holdout_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(1000 + seed).permutation(n)
    return perm[N_HOLDOUT:], perm[:N_HOLDOUT]


def evaluate(scores_hold: dict, scores_dev: dict, y: np.ndarray) -> dict:
    out = {"auroc": {}, "acc": {}, "thr": {}, "acc_rob": {}}
    for k in scores_dev:
        out["auroc"][k] = auroc(scores_dev[k], y)
        out["acc"][k], out["thr"][k] = calibrated_accuracy(scores_dev[k], y, scores_hold[k])
        out["acc_rob"][k] = float(((scores_dev[k] > robust_threshold(scores_hold[k])) == y).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=["heuristic", "ae"])
    ap.add_argument("--prep", choices=["plain", "full"], default="full")
    ap.add_argument("--size", type=int, default=64, help="image side (64 for sweeps, 128)")
    ap.add_argument("--norm", choices=["iqr", "lower"], default="iqr", help="intensity spread")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--bneck", type=int, default=16)
    ap.add_argument("--aug", type=float, default=1.0, help="augmentation strength (0 = off)")
    ap.add_argument("--noise", type=float, default=0.0, help="coarse-noise std (0 = off)")
    ap.add_argument("--synth", type=float, default=0.0, help="P(synthetic anomaly) per sample")
    ap.add_argument("--score", default="pos_top1")
    ap.add_argument("--members", type=int, default=1, help="ensemble size (mean reconstruction)")
    ap.add_argument("--name", default="")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--dump", help="folder for per-image scores and a residual montage")
    ap.add_argument("--json", help="append per-seed results to this JSON-lines file")
    a = ap.parse_args()
    tr, dev = get_data(a.prep, a.size, a.norm)
    y = dev["label"]
    name = a.name or " ".join(f"{k}={v}" for k, v in vars(a).items() if k not in ("json",))
    if a.mode == "heuristic":
        per = []
        for s in a.seeds:
            _, hold = holdout_split(len(tr["norm"]), s)
            hs = {"bright": heuristic(tr["norm"][hold], tr["brain"][hold])}
            ds = {"bright": heuristic(dev["norm"], dev["brain"])}
            alli = np.arange(len(tr["norm"]))
            ht, dt = constant_scores(tr, hold), constant_scores(dev, np.arange(len(y)))
            at = constant_scores(tr, alli)
            hs |= {f"const_{k}": v for k, v in ht.items()}
            ds |= {f"const_{k}": v for k, v in dt.items()}
            r = evaluate(hs, ds, y)
            alls = {"bright": heuristic(tr["norm"], tr["brain"])}
            alls |= {f"const_{k}": v for k, v in at.items()}
            r["acc_all"] = {k: calibrated_accuracy(ds[k], y, alls[k])[0] for k in ds}
            per.append(r)
        for k in per[0]["auroc"]:
            report("heuristic", per, k)
        return
    per, maps_hold, maps_dev = [], [], []
    for s in a.seeds:
        t0 = time.time()
        fit, hold = holdout_split(len(tr["norm"]), s)
        models = [
            train(tr["norm"][fit], tr["brain"][fit], a, s + 1000 * k) for k in range(a.members)
        ]
        rh = np.mean([recon(m, tr["norm"][hold]) for m in models], 0)
        rd = np.mean([recon(m, dev["norm"]) for m in models], 0)
        rf = np.mean([recon(m, tr["norm"][fit]) for m in models], 0)
        sh = score_all(tr["norm"][hold], rh, tr["brain"][hold])
        sd = score_all(dev["norm"], rd, dev["brain"])
        sf = score_all(tr["norm"][fit], rf, tr["brain"][fit])
        r = evaluate(sh, sd, y)
        # label-free check: held-back normals vs the same normals with synthetic lesions
        srng = np.random.default_rng(5000 + s)
        pairs = zip(tr["norm"][hold], tr["brain"][hold], strict=True)
        xs = np.stack([synth_anomaly(xi, bi, srng) for xi, bi in pairs])
        ss = score_all(xs, np.mean([recon(m, xs) for m in models], 0), tr["brain"][hold])
        yy = np.r_[np.zeros(len(hold)), np.ones(len(hold))].astype(np.int64)
        r["syn_auroc"] = {k: auroc(np.r_[sh[k], ss[k]], yy) for k in sh}
        for k in sd:  # threshold from training (in-sample) + held-back normals together
            both = np.concatenate([sh[k], sf[k]])
            r.setdefault("acc_all", {})[k] = calibrated_accuracy(sd[k], y, both)[0]
        per.append(r)
        maps_hold.append(rh)
        maps_dev.append(rd)
        print(
            f"seed {s} ({time.time() - t0:.0f}s): "
            + " ".join(
                f"{k}={v:.3f}/{r['acc'][k]:.2f}/{r['acc_rob'][k]:.2f}"
                for k, v in r["auroc"].items()
            ),
            flush=True,
        )
        if a.dump:
            dump(a.dump, s, a.score, tr, hold, rh, dev, rd, sh, sd)
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps({"name": name, "seed": s, **r}) + "\n")
    for k in per[0]["auroc"]:
        report(name, per, k)


if __name__ == "__main__":
    main()
