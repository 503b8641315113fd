"""Self-supervised training on normal images, and threshold calibration on normals.

Restoration training: the network sees a corrupted slice and must return the clean one, so it
learns normal anatomy rather than the identity. Corruptions: coarse, low-resolution noise
(Kascenas et al. 2022) and, optionally, pasted synthetic lesions (AnatPaste-style, see
`synthetic.py`). Augmentation: left-right flips, small affine changes, intensity jitter for images.
Optionally an ensemble of members with different seeds. Afterwards the series-score threshold is
set at the target specificity on normals held back from training (optionally plus the training
normals), and the findings threshold at a high quantile of the peaks of their anomaly maps.

Outlier exposure (fine-tuning only): confirmed anomalies (`Positive`, from the reviewers' accepted
findings) add a hinge term that pushes their reconstruction error, the top-percent mean inside
their boxes, above a margin, and their pixels are pasted into a share of the normal slices as
real lesions to restore; the normals' restoration loss keeps everything else reconstructed."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ctviewer.anomaly.maps import Scoring, series_score
from ctviewer.anomaly.score import calibrate_threshold, top_percent_mean
from ctviewer.anomaly.segment import region_stats
from ctviewer.errors import InputError
from ctviewer.model.anatomy import BODY_PARTS, guess_body_parts
from ctviewer.model.autoencoder import AnomalyModel, Architecture, Ensemble, build_network
from ctviewer.model.catalog import Fits
from ctviewer.model.checkpoint import load_model
from ctviewer.model.device import choose_device
from ctviewer.model.preprocess import LEVEL, Prepared, Preprocessing, prepare_volume, restore
from ctviewer.model.synthetic import (
    crop_patches,
    paste_ground_glass,
    paste_ground_glass_hu,
    paste_lesions,
    paste_patch,
)
from ctviewer.model.thresholds import SPACING_KEY, normals_slice_mm
from ctviewer.pipeline import Input, load_inputs, model_maps, volume_midline
from ctviewer.progress import CancelFlag, ProgressFn, check_cancel, report, subrange
from ctviewer.volume import Volume


@dataclass
class TrainConfig:
    """Training settings; `preprocessing=None` picks HU or image input from the data."""

    epochs: int = 40
    batch_size: int = 16
    learning_rate: float = 1e-3
    preprocessing: Preprocessing | None = None
    base_channels: int = 16
    depth: int = 4
    latent_channels: int = 16
    linear_output: bool = False  # no sigmoid on the output (for organ-normalised inputs)
    scoring: Scoring = field(default_factory=Scoring)
    noise_std: float = 0.2  # coarse denoising noise; 0 trains a plain autoencoder
    noise_res: int = 16  # the noise is drawn at noise_res x noise_res and upsampled
    augment: bool = True
    members: int = 1  # ensemble size: members train with different seeds, reconstructions averaged
    synthetic: float = 0.0  # share of training slices given pasted bright lesions to remove
    synthetic_kind: str = "lesion"  # "lesion": compact bright lesions; "ground_glass": hazy
    # lung patches and consolidation (`synthetic.paste_ground_glass`)
    ground_glass_hu: float = 0.0  # HU models: share of the pasted slices given ground glass in
    # HU instead (`synthetic.paste_ground_glass_hu`: +200-500 HU in aerated lung, soft-edged)
    holdout_fraction: float = 0.2  # normals held back to calibrate the threshold
    trim: float = 0.0  # share of training normals left out of the fit: those that deviate most
    # from their organ level (`organ_deviation`, no learning), such as the other lung disease
    # among COVID-CT's "non-COVID"; they still calibrate the threshold
    calibration: str = "empirical"  # or "lognormal" (see anomaly.score.calibrate_threshold)
    calibrate_on: str = "held_back"  # or "all": held-back plus training normals (steadier when few)
    target_specificity: float = 0.95
    findings_quantile: float = 0.9  # of the normals' map maxima → threshold for findings
    findings_seed: float = 0.0  # > 0: findings grow down to this share of that threshold, and a
    # region whose mass exceeds the same quantile of the normals' largest masses is one too
    max_slices_per_volume: int = 128
    min_size_mm3: float = 30.0
    min_area_mm2: float = 10.0
    positive_weight: float = 0.5  # weight of the outlier-exposure hinge (when positives are given)
    positive_margin: float = 2.0  # hinge margin, a multiple of the fine-tuned model's threshold
    positive_paste: float = 0.0  # share of normal slices given a confirmed anomaly to remove
    device: str = "auto"
    seed: int = 0
    name: str = "ctviewer-ae"
    body_parts: tuple[str, ...] = ()  # what the training data shows ("head", "chest", ...);
    # empty: guessed from the training images (see model.catalog)

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("preprocessing")
        data.pop("scoring")
        return data


@dataclass
class Positive:
    """A confirmed anomaly for outlier exposure: the volume and where (voxel boxes
    z0, y0, x0, z1, y1, x1, ends exclusive); no boxes means anywhere in the organ, every slice."""

    volume: Volume
    bboxes: list[tuple[int, ...]] = field(default_factory=list)


def _split(volumes: list[Volume], fraction: float, rng: np.random.Generator):
    """(training, held back) volumes; nothing is held back from fewer than two."""
    n_hold = (
        0 if len(volumes) < 2 else min(len(volumes) - 1, max(1, round(fraction * len(volumes))))
    )
    order = rng.permutation(len(volumes))
    held = [volumes[i] for i in order[:n_hold]]
    return [volumes[i] for i in order[n_hold:]], held


def _training_slices(
    volumes: list[Volume], pre: Preprocessing, limit: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Model inputs (n, c, s, s), organ masks (n, s, s), at most `limit` slices per volume, and
    each volume's organ share (the scoring region's mean share of the input, as `detect` sees
    it)."""
    images, masks, shares = [], [], []
    for volume in volumes:
        prepared = prepare_volume(volume, pre)
        shares.append(float(prepared.body.mean()))
        keep = np.arange(prepared.images.shape[0])
        if keep.size > limit:
            keep = np.sort(rng.choice(keep.size, limit, replace=False))
        images.append(prepared.images[keep])
        masks.append(prepared.body[keep])
    return np.concatenate(images), np.concatenate(masks), shares


def declare_fits(volumes: Sequence[Volume], pre: Preprocessing, config: TrainConfig, shares):
    """What the model will fit (`metadata["fits"]`, see model.catalog): the configured body
    parts, else those the anatomy check sees on most training images."""
    parts = tuple(config.body_parts)
    if not parts:
        guesses = [guess_body_parts(v).parts for v in volumes]
        counts = {p: sum(p in g for g in guesses) for p in BODY_PARTS}
        parts = tuple(p for p in BODY_PARTS if counts[p] >= 0.5 * len(volumes))
    fov = [v.shape[1] * v.spacing[1] for v in volumes if v.spacing_known and v.is_hu]
    return Fits(
        modality="CT",
        kind=pre.kind,
        body_parts=parts,
        field_of_view_mm=(min(fov), max(fov)) if fov else None,
        organ_share=(min(shares), max(shares)) if shares else None,
    ).to_json()


def _positive_slices(
    positives: Sequence[Positive], pre: Preprocessing, limit: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs (n, c, s, s) of the positives' slices and where their anomaly is (n, s, s):
    the organ inside the boxes, or the whole organ without boxes."""
    images, masks = [], []
    for positive in positives:
        prepared = prepare_volume(positive.volume, pre)
        where = prepared.body.copy()
        if positive.bboxes:
            y0, x0, y1, x1 = prepared.box
            scale = pre.size / (y1 - y0)
            inside = np.zeros_like(where)
            for z0, by0, bx0, z1, by1, bx1 in positive.bboxes:
                ys = slice(max(0, int((by0 - y0) * scale)), math.ceil((by1 - y0) * scale))
                xs = slice(max(0, int((bx0 - x0) * scale)), math.ceil((bx1 - x0) * scale))
                inside[z0:z1, ys, xs] = True
            where &= inside
        keep = np.flatnonzero(where.any(axis=(1, 2)))
        if keep.size > limit:
            keep = np.sort(rng.choice(keep, limit, replace=False))
        images.append(prepared.images[keep])
        masks.append(where[keep])
    return np.concatenate(images), np.concatenate(masks)


def organ_deviation(prepared: Prepared, percent: float) -> float:
    """No-learning score of a prepared volume: over its slices, the largest top-`percent` %
    mean of the input's brightness above its organ median (channels averaged), in the organ."""
    best = 0.0
    for image, organ in zip(prepared.images, prepared.body, strict=True):
        if organ.sum() < 16:
            continue
        values = image.mean(0)[organ]
        best = max(best, top_percent_mean(np.clip(values - np.median(values), 0, None), percent))
    return best


def trimmed(volumes: list[Volume], pre: Preprocessing, percent: float, share: float) -> list:
    """`volumes` without the `share` of them with the highest `organ_deviation` (all of them
    when share is 0; at least one stays)."""
    n_drop = min(len(volumes) - 1, round(share * len(volumes)))
    if n_drop <= 0:
        return list(volumes)
    scores = [organ_deviation(prepare_volume(v, pre), percent) for v in volumes]
    keep = np.sort(np.argsort(scores, kind="stable")[: len(volumes) - n_drop])
    return [volumes[i] for i in keep]


def _augment(x: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """Random left-right flip, rotation ±10°, scale ±10 %, shift ±5 %, intensity jitter."""
    b = x.shape[0]
    rand = torch.rand(b, 6, generator=gen, device=x.device)
    flip = torch.where(rand[:, 0] < 0.5, -1.0, 1.0)
    angle = (rand[:, 1] - 0.5) * math.radians(20)
    scale = 1.0 + (rand[:, 2] - 0.5) * 0.2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, (rand[:, 3] - 0.5) * 0.1], 1),
            torch.stack([sin * flip, cos, (rand[:, 4] - 0.5) * 0.1], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if kind == "image":  # contrast jitter about the organ level, inside the image only
        gain = (1.0 + (rand[:, 5] - 0.5) * 0.3)[:, None, None, None]
        out = torch.where(out > 0, (out - LEVEL) * gain + LEVEL, out)
    return out


def coarse_noise(
    shape: torch.Size, std: float, res: int, gen: torch.Generator, device
) -> torch.Tensor:
    """Gaussian noise drawn at res x res and upsampled to the image size (Kascenas et al. 2022)."""
    b, c, h, w = shape
    noise = torch.randn(b, c, res, res, generator=gen, device=device) * std
    return F.interpolate(noise, size=(h, w), mode="bilinear", align_corners=False)


PASTES = {"lesion": paste_lesions, "ground_glass": paste_ground_glass}


def _batch(
    data: np.ndarray,
    masks: np.ndarray,
    index: np.ndarray,
    config: TrainConfig,
    rng,
    patches: Sequence[tuple[np.ndarray, np.ndarray]] = (),
    windows: tuple[tuple[float, float], ...] = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, corrupted) slices: a share of them get pasted synthetic lesions (of those, a
    share `ground_glass_hu` HU ground glass, read through the model's HU `windows`), and a
    share confirmed anomalies' pixels (`patches`, from accepted findings)."""
    clean = data[index]
    corrupt = clean.copy()
    paste = PASTES[config.synthetic_kind]
    glass = config.ground_glass_hu if windows else 0.0
    for i, j in enumerate(index):
        if rng.random() < config.synthetic:
            if glass > 0 and rng.random() < glass:
                corrupt[i] = paste_ground_glass_hu(clean[i], masks[j], rng, windows)
            else:
                corrupt[i] = paste(clean[i], masks[j], rng)
        if patches and config.positive_paste > 0 and rng.random() < config.positive_paste:
            corrupt[i] = paste_patch(corrupt[i], masks[j], patches[rng.integers(len(patches))], rng)
    return torch.from_numpy(clean), torch.from_numpy(corrupt)


def _exposure_loss(
    net, slices: np.ndarray, where: np.ndarray, kind: str, scoring: Scoring, margin: float, gen
) -> torch.Tensor:
    """Hinge on confirmed anomalies: mean over slices of max(0, margin - score), the score being
    the top-percent mean of the residual where the anomaly is (as the engine scores a slice)."""
    device = next(net.parameters()).device
    both = torch.from_numpy(np.concatenate([slices, where[:, None].astype(np.float32)], 1))
    both = _augment(both.to(device), kind, gen)  # the box moves with the image
    x, inside = both[:, :-1].contiguous(memory_format=torch.channels_last), both[:, -1] > 0.5
    diff = x - net(x)
    diff = diff.clamp(min=0) if scoring.residual == "positive" else diff.abs()
    diff = diff.mean(1)
    losses = []
    for values, mask in zip(diff, inside, strict=True):
        region = values[mask]
        if region.numel() == 0:
            continue
        k = max(1, math.ceil(region.numel() * scoring.percent / 100))
        losses.append(F.relu(margin - region.topk(k).values.mean()))
    return torch.stack(losses).mean() if losses else diff.sum() * 0.0


def _fit(
    net,
    data: np.ndarray,
    masks: np.ndarray,
    config: TrainConfig,
    kind: str,
    device,
    progress,
    cancel,
    exposure: tuple[np.ndarray, np.ndarray, Scoring, float] | None = None,
    windows: tuple[tuple[float, float], ...] = (),
) -> float:
    """Restoration training loop (synthetic lesions and coarse noise in, clean slice out), plus
    the outlier-exposure hinge on `exposure` = (positive slices, their regions, scoring, margin);
    `windows`: an HU model's, for HU ground-glass pastes. Returns the last epoch's mean L1
    loss."""
    gen = torch.Generator(device=device).manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=1e-5)
    steps = max(1, math.ceil(data.shape[0] / config.batch_size))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.epochs * steps
    )
    loss_sum = 0.0
    channels = data.shape[1]
    patches = crop_patches(exposure[0], exposure[1]) if exposure is not None else []
    net.to(device, memory_format=torch.channels_last).train()
    for epoch in range(config.epochs):
        loss_sum = 0.0
        order = rng.permutation(data.shape[0])
        for step in range(steps):
            check_cancel(cancel)
            index = order[step * config.batch_size : (step + 1) * config.batch_size]
            clean, corrupt = _batch(data, masks, index, config, rng, patches, windows)
            both = torch.cat([clean, corrupt], 1).to(device)
            if config.augment:  # the same transform for the clean and the corrupted slice
                both = _augment(both, kind, gen)
            both = both.contiguous(memory_format=torch.channels_last)
            clean, noisy = both[:, :channels], both[:, channels:]
            if config.noise_std > 0:  # only inside the image, not on the zero background
                noise = coarse_noise(clean.shape, config.noise_std, config.noise_res, gen, device)
                noisy = noisy + noise * (clean.amax(1, keepdim=True) > 0)
            loss = F.l1_loss(net(noisy), clean)
            if exposure is not None and config.positive_weight > 0:
                slices, where, scoring, margin = exposure
                pick = rng.choice(len(slices), min(len(slices), max(2, len(index) // 4)))
                hinge = _exposure_loss(net, slices[pick], where[pick], kind, scoring, margin, gen)
                loss = loss + config.positive_weight * hinge
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) / steps
            done = (epoch * steps + step + 1) / (config.epochs * steps)
            message = f"epoch {epoch + 1}/{config.epochs} loss {loss_sum:.4f}"
            report(progress, done, message)
    net.eval()
    return loss_sum


def calibrate(
    model: AnomalyModel,
    normals: Sequence[Volume],
    target_specificity: float,
    findings_quantile: float = 0.9,
    method: str = "empirical",
    findings_seed: float = 0.0,
) -> dict:
    """Series threshold at the target specificity on normal scores; findings threshold at a
    quantile of the normals' map maxima (0.9: about one normal in ten shows a finding). With
    `findings_seed`, findings are regions above that share of the findings threshold, and the
    mass threshold is the same quantile of the normals' largest region masses
    (`anomaly.segment`). The update also drops any calibrations per slice spacing
    (`model.thresholds`): they were made for the network and calibration it replaces."""
    scores, peaks, maps_full = [], [], []
    for volume in normals:
        prepared = prepare_volume(volume, model.preprocessing)
        line = volume_midline(volume, model, prepared=prepared)
        maps, slice_scores = model_maps(prepared, model, line)
        scores.append(series_score(slice_scores))
        peaks.append(float(maps.max()))
        if findings_seed > 0:
            maps_full.append(restore(maps, prepared.box, volume.shape[1:]))
    pixel_threshold = float(np.quantile(peaks, findings_quantile))
    update = {
        "threshold": calibrate_threshold(scores, target_specificity, method),
        "target_specificity": target_specificity,
        "pixel_threshold": pixel_threshold,
        "calibration": {
            "normals": len(scores),
            "method": method,
            "findings_quantile": findings_quantile,
            "normal_scores": [round(float(v), 6) for v in scores],
            "slice_mm": normals_slice_mm(normals),
        },
        SPACING_KEY: [],
    }
    if findings_seed > 0:
        seed = findings_seed * pixel_threshold
        volume_mm3 = float(model.metadata.get("min_size_mm3", 30.0))
        area_mm2 = float(model.metadata.get("min_area_mm2", 10.0))  # what `segment` applies
        pairs = zip(maps_full, normals, strict=True)
        masses = [
            region_stats(m, v, seed, area_mm2 if v.n_slices == 1 else volume_mm3)[1]
            for m, v in pairs
        ]
        update["seed_threshold"] = seed
        update["mass_threshold"] = float(np.quantile(masses, findings_quantile))
        update["calibration"]["findings_seed"] = findings_seed
    return update


def _version(net: torch.nn.Module, created: datetime) -> str:
    digest = hashlib.sha1()
    for tensor in net.state_dict().values():
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return f"{created:%Y%m%d-%H%M%S}-{digest.hexdigest()[:8]}"


def train_model(
    inputs: Sequence[Input],
    config: TrainConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFlag | None = None,
    init_from: str | Path | None = None,
    extra_normals: Sequence[Input] = (),
    positives: Sequence[Positive] = (),
) -> AnomalyModel:
    """Train on normal inputs (Volumes, or paths of DICOM folders / NIfTI / PNG / JPG).

    `init_from` fine-tunes an existing checkpoint (its preprocessing and architecture are kept);
    `extra_normals` are further normal inputs mixed in, e.g. a replay of earlier training data;
    `positives` are confirmed anomalies for outlier exposure (fine-tuning only: the hinge's margin
    is `config.positive_margin` times the checkpoint's threshold).
    """
    config = config or TrainConfig()
    report(progress, 0.0, "reading training images")
    volumes = list(load_inputs([*inputs, *extra_normals], cancel=cancel))
    if not volumes:
        raise InputError("no training images found")
    kinds = {v.is_hu for v in volumes}
    if len(kinds) > 1:
        raise InputError("training inputs mix CT volumes (HU) with 8-bit images; use one kind")
    device = choose_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    exposure = None
    if init_from is not None:
        base = load_model(init_from, device=device.type)
        net, pre, scoring = base.net, base.preprocessing, base.scoring
        metadata = dict(base.metadata)
        metadata["fine_tuned_from"] = base.info.version
        if positives:
            slices, where = _positive_slices(positives, pre, config.max_slices_per_volume, rng)
            exposure = (slices, where, scoring, config.positive_margin * base.threshold)
    elif positives:
        raise InputError("confirmed anomalies can only be used to fine-tune an existing model")
    else:
        pre = config.preprocessing or Preprocessing(kind="hu" if volumes[0].is_hu else "image")
        scoring = config.scoring
        arch = Architecture(
            pre.in_channels,
            config.base_channels,
            config.depth,
            config.latent_channels,
            int(config.linear_output),
        )
        net = build_network(arch, config.members).to(device)
        metadata = {"architecture": arch.to_dict(), "members": max(1, config.members)}
    train, held = _split(volumes, config.holdout_fraction, rng)
    fit = trimmed(train, pre, scoring.percent, config.trim)
    data, masks, shares = _training_slices(fit, pre, config.max_slices_per_volume, rng)
    report(progress, 0.05, f"training on {data.shape[0]} slices")
    if isinstance(net, Ensemble) and init_from is None:  # members learn apart, then average
        parts = [
            (member, replace(config, seed=config.seed + k)) for k, member in enumerate(net.members)
        ]
    else:
        parts = [(net, config)]
    loss = 0.0
    windows = pre.windows if pre.kind == "hu" else ()
    for k, (part, part_config) in enumerate(parts):
        share = subrange(subrange(progress, 0.05, 0.9), k / len(parts), (k + 1) / len(parts))
        loss = _fit(
            part, data, masks, part_config, pre.kind, device, share, cancel, exposure, windows
        )
    net.eval()
    created = datetime.now(UTC)
    metadata.update(
        name=config.name,
        version=_version(net, created),
        created_utc=created.isoformat(timespec="seconds"),
        preprocessing=pre.to_dict(),
        scoring=scoring.to_dict(),
        min_size_mm3=config.min_size_mm3,
        min_area_mm2=config.min_area_mm2,
        training={
            "volumes": len(fit),
            "trimmed": len(train) - len(fit),
            "held_back": len(held),
            "slices": int(data.shape[0]),
            "positive_slices": 0 if exposure is None else int(exposure[0].shape[0]),
            "kind": pre.kind,
            "final_loss": round(loss, 6),
            "config": config.summary(),
        },
    )
    if init_from is None:  # a fine-tune keeps what its parent fits
        metadata["fits"] = declare_fits(train, pre, config, shares)
    model = AnomalyModel(net, metadata, device)
    report(progress, 0.92, "calibrating the threshold on held-back normals")
    normals = held + train if config.calibrate_on == "all" or not held else held
    model.metadata.update(
        calibrate(
            model,
            normals,
            config.target_specificity,
            config.findings_quantile,
            config.calibration,
            config.findings_seed,
        )
    )
    model.metadata["calibration"]["on"] = "held-back" if normals is held else "held-back+training"
    report(progress, 1.0, "done")
    return model


BRAIN_WINDOW = (40.0, 80.0)  # HU (centre, width): how head-CT images are read from HU volumes


def head_ct_recipe() -> TrainConfig:
    """Axial head CT where bleeds are the target: 8-bit brain-window images (PNG/JPG), or CT
    volumes in HU read through the brain window (`Preprocessing.hu_window`); skull-stripped,
    brain-normalised input; bright synthetic lesions to restore; bright residual only.

    Slice score and threshold chosen by 5-fold cross-validation over all 90 labelled images
    (benchmarks/crossval.py, 2 seeds), not on the 40-image dev split: top-1 % of the map
    (AUROC 0.947 vs 0.940 for top-5 %) and the empirical 95th percentile of held-back plus
    training normals (accuracy 0.922 vs 0.856 for the former log-normal fit, whose spread
    estimate from the few normals let specificity drop to 0.82). Stripping the skull of CT by
    its HU (`Preprocessing.skull_hu`, with `Scoring.erode_hu_px`) is not on: measured on CQ500
    with the phantom model it found no more bleeds and made more false positives
    (benchmarks/research/FINDINGS.md). The residual has its left-right mirror subtracted
    (`Scoring.mirror` 1; no retraining: the crop is centred on the head, normal anatomy is
    near-symmetric, most bleeds are not): same 10 CV networks, AUROC 0.968 vs 0.947, accuracy
    0.928 vs 0.922 (seeds 0-4: 0.958 vs 0.943, 0.931 vs 0.913); the no-learning control with
    the same score gets 0.946 (0.944), so most of that gain is the score's."""
    return TrainConfig(
        epochs=200,
        learning_rate=2e-3,
        preprocessing=Preprocessing(
            kind="image", size=64, organ="inner", normalize="organ", hu_window=BRAIN_WINDOW
        ),
        base_channels=16,
        latent_channels=16,
        linear_output=True,
        synthetic=0.5,
        noise_std=0.05,
        noise_res=8,
        scoring=Scoring(
            residual="positive", erode_px=2, median=3, sigma=0.0, percent=1.0, mirror=1.0
        ),
        calibration="empirical",
        calibrate_on="all",
        target_specificity=0.95,
        max_slices_per_volume=1,
        body_parts=("head",),
    )


def chest_8bit_recipe() -> TrainConfig:
    """Axial chest CT as 8-bit images (PNG/JPG, window unknown), lung disease the target: lungs
    found in the image (`preprocess.lung_mask_image`), lung-normalised input (median, IQR),
    coarse-noise restoration, bright residual inside the lungs only. Images in a soft-tissue
    window (black lungs) are not assessed (`pipeline.window_problem`).

    5-fold CV on COVID-CT, seeds 0 1 (benchmarks/crossval.py --dataset covid; FINDINGS.md,
    covid9): AUROC 0.588 ± 0.132, below its no-learning control (0.608 ± 0.124); with
    ground-glass pastes (`synthetic=0.5`, `synthetic_kind` kept at "ground_glass" for that)
    0.579 ± 0.129, with the 30 % most deviating normals trimmed (`trim=0.3`) 0.568 ± 0.114.
    Most of COVID-CT's "non-COVID" normals show other lung disease, so no variant beat the
    control; a starting point for chest slices, not a COVID detector."""
    return TrainConfig(
        epochs=80,
        learning_rate=2e-3,
        preprocessing=Preprocessing(kind="image", size=64, organ="lungs", normalize="organ"),
        base_channels=16,
        latent_channels=16,
        linear_output=True,
        synthetic=0.0,
        synthetic_kind="ground_glass",
        noise_std=0.05,
        noise_res=8,
        scoring=Scoring(residual="positive", erode_px=1, median=3, sigma=0.0, percent=5.0),
        calibration="empirical",
        calibrate_on="all",
        target_specificity=0.95,
        max_slices_per_volume=1,
        body_parts=("chest",),
    )


def recipe(name: str = "default") -> TrainConfig:
    """A named starting configuration (`ctviewer train --recipe NAME`)."""
    recipes = {
        "default": TrainConfig,
        "head-ct": head_ct_recipe,
        "chest-8bit": chest_8bit_recipe,
    }
    if name not in recipes:
        raise InputError(f"unknown recipe {name!r}; choose one of {', '.join(recipes)}")
    return recipes[name]()
