"""CUDA check and timing of ctviewer's own inference and training code, against the CPU path.

Runs where a CUDA GPU is (it skips the CUDA parts, saying so, where none is):

    python benchmarks/gpu_check.py --json gpu_check.json

On the lent device machine, from a snapshot of the committed package (see the module's report):

    cd .gpu && PYTHONPATH=$PWD PYTHONUNBUFFERED=1 python3 gpu_check.py --json $OUT/gpu_check.json

`--device cpu --quick` runs every step with CPU in place of CUDA on small phantoms (a dry run of
the script itself). What it does:

1. torch / CUDA versions, the GPU, `choose_device("auto")`.
2. Phantoms with known lesions (in memory, no DICOM), the bundled model on CPU and on CUDA, `detect`
   on both: score, slice scores, anomaly maps, findings and lesions hit are compared. CUDA runs the
   model under bf16 autocast, so small map differences are expected; a hard failure is only a
   different verdict, a different number of findings, findings that do not pair up, or different
   lesions found.
3. Timing: the median of a few CUDA `detect` runs after a warm-up (and its model-only part at a few
   batch sizes), one CPU run for comparison, the peak GPU memory.
4. A tiny model trained on CUDA for a few epochs, saved, loaded back on CPU (weights_only) and run;
   the bundled model loaded straight onto CUDA.

Exits 1 with a one-line reason on a hard failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ctviewer.model.autoencoder import AnomalyModel
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.model.device import choose_device
from ctviewer.model.preprocess import prepare_volume
from ctviewer.model.train import TrainConfig, train_model
from ctviewer.pipeline import detect
from ctviewer.synth.phantom import Lesion, Phantom, make_phantom
from ctviewer.volume import Result

MAP_TOLERANCES = (1e-3, 1e-2, 5e-2)  # anomaly-map differences counted at these sizes
LESIONS = [
    Lesion("nodule", 8.0, seed=1),
    Lesion("ggo", 10.0, seed=2),
    Lesion("nodule", 6.0, seed=3),
]


class HardFailure(Exception):
    """CPU and CUDA disagree on something a user would see, or a CUDA step broke."""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    """(fn(), wall seconds), the device synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    value = fn()
    sync(device)
    return value, time.perf_counter() - start


def environment() -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cuda_available": cuda,
        "choose_device_auto": str(choose_device("auto")),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
    }
    if cuda:
        props = torch.cuda.get_device_properties(0)
        env.update(
            gpu=torch.cuda.get_device_name(0),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_capability=".".join(map(str, torch.cuda.get_device_capability(0))),
            gpu_multiprocessors=props.multi_processor_count,
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
    return env


def phantom(shape: tuple[int, int, int], seed: int, spacing=None) -> tuple[Phantom, float]:
    start = time.perf_counter()
    made = make_phantom(shape=shape, spacing=spacing, seed=seed, lesions=LESIONS)
    return made, time.perf_counter() - start


def lesions_hit(result: Result, truth: Phantom) -> list[bool]:
    """Per ground-truth lesion: does any finding overlap it?"""
    return [
        bool(result.labels[truth.lesion_labels == k].any())
        for k in range(1, len(truth.lesions) + 1)
    ]


def match_findings(ref: Result, other: Result) -> dict[str, Any]:
    """Pair each reference finding with the other run's finding it overlaps most (by voxels)."""
    pairs = []
    used: set[int] = set()
    for finding in ref.findings:
        where = ref.labels == finding.id
        ids = other.labels[where]
        ids = ids[ids > 0]
        if ids.size == 0:
            pairs.append({"ref_id": finding.id, "other_id": None, "dice": 0.0})
            continue
        best = int(np.bincount(ids).argmax())
        overlap = int(np.count_nonzero(ids == best))
        match = next(f for f in other.findings if f.id == best)
        used.add(best)
        pairs.append(
            {
                "ref_id": finding.id,
                "other_id": best,
                "dice": round(2 * overlap / (finding.voxels + match.voxels), 4),
                "voxels": [finding.voxels, match.voxels],
                "bbox": [list(finding.bbox), list(match.bbox)],
                "bbox_max_abs_diff": int(np.max(np.abs(np.subtract(finding.bbox, match.bbox)))),
                "peak": [round(finding.peak, 5), round(match.peak, 5)],
            }
        )
    unmatched_other = [f.id for f in other.findings if f.id not in used]
    paired = all(p["other_id"] is not None for p in pairs) and not unmatched_other
    paired = paired and len({p["other_id"] for p in pairs}) == len(pairs)
    return {"pairs": pairs, "unmatched_other": unmatched_other, "one_to_one": paired}


def compare(ref: Result, other: Result, truth: Phantom) -> dict[str, Any]:
    """Differences of `other` (CUDA) from `ref` (CPU) on one volume."""
    diff = np.abs(ref.anomaly_map - other.anomaly_map)
    body = ref.anomaly_map > 0
    hits_ref, hits_other = lesions_hit(ref, truth), lesions_hit(other, truth)
    out: dict[str, Any] = {
        "score": [round(ref.score, 6), round(other.score, 6)],
        "threshold": round(ref.threshold, 6),
        "score_abs_diff": float(abs(ref.score - other.score)),
        "score_rel_diff": float(abs(ref.score - other.score) / max(abs(ref.score), 1e-12)),
        "abnormal": [bool(ref.abnormal), bool(other.abnormal)],
        "slice_scores_max_abs_diff": float(np.max(np.abs(ref.slice_scores - other.slice_scores))),
        "map_max": float(ref.anomaly_map.max()),
        "pixel_threshold": None,
        "map_max_abs_diff": float(diff.max()),
        "map_mean_abs_diff_in_scored": float(diff[body].mean()) if body.any() else 0.0,
        "map_frac_voxels_diff_gt": {
            f"{tol:g}": float(np.count_nonzero(diff > tol) / diff.size) for tol in MAP_TOLERANCES
        },
        "labels_voxels_differing": int(np.count_nonzero((ref.labels > 0) != (other.labels > 0))),
        "findings": [len(ref.findings), len(other.findings)],
        "lesions": [f"{les.kind} r{les.radius_mm}mm" for les in truth.lesions],
        "lesions_hit": [hits_ref, hits_other],
        "matching": match_findings(ref, other),
    }
    problems = []
    if out["abnormal"][0] != out["abnormal"][1]:
        problems.append("verdict differs")
    if len(ref.findings) != len(other.findings):
        problems.append(f"findings {len(ref.findings)} vs {len(other.findings)}")
    elif not out["matching"]["one_to_one"]:
        problems.append("findings do not pair up one to one")
    if hits_ref != hits_other:
        problems.append(f"lesions hit {hits_ref} vs {hits_other}")
    out["problems"] = problems
    return out


def reconstruction_diffs(cpu: AnomalyModel, gpu: AnomalyModel, truth: Phantom) -> dict[str, Any]:
    """Model output alone: CPU vs the device as ctviewer runs it (bf16 autocast on CUDA), and vs
    the same device in float32, to tell bf16 rounding from anything else."""
    images = prepare_volume(truth.volume, cpu.preprocessing).images
    ref = cpu.reconstruct(images)
    used = gpu.reconstruct(images)
    fp32 = np.empty_like(ref)
    with torch.inference_mode():
        for i in range(0, images.shape[0], 16):
            x = torch.from_numpy(images[i : i + 16]).to(gpu.device)
            x = x.contiguous(memory_format=torch.channels_last)
            fp32[i : i + 16] = gpu.net(x).float().cpu().numpy()
    return {
        "recon_max_abs_diff_autocast": float(np.abs(ref - used).max()),
        "recon_mean_abs_diff_autocast": float(np.abs(ref - used).mean()),
        "recon_max_abs_diff_fp32": float(np.abs(ref - fp32).max()),
        "recon_mean_abs_diff_fp32": float(np.abs(ref - fp32).mean()),
    }


def check_detect(
    cpu: AnomalyModel, gpu: AnomalyModel, truth: Phantom, device: torch.device
) -> tuple[dict[str, Any], Result, float, float]:
    ref, cpu_s = timed(lambda: detect(truth.volume, cpu), torch.device("cpu"))
    other, gpu_s = timed(lambda: detect(truth.volume, gpu), device)
    out = compare(ref, other, truth)
    out["pixel_threshold"] = float(cpu.metadata.get("pixel_threshold", np.inf))
    out["reconstruction"] = reconstruction_diffs(cpu, gpu, truth)
    out["shape"] = list(truth.volume.shape)
    out["cpu_detect_s"] = round(cpu_s, 3)
    out[f"{device.type}_first_detect_s"] = round(gpu_s, 3)
    return out, other, cpu_s, gpu_s


def time_inference(
    gpu: AnomalyModel, cpu_s: float, truth: Phantom, device: torch.device, runs: int
) -> dict[str, Any]:
    """Median `detect` time on `device` after the comparison run (the warm-up), its model part
    alone at several batch sizes, and the peak GPU memory of all of it."""
    volume = truth.volume
    n = volume.n_slices
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    detect(volume, gpu)  # second warm-up: allocator and cuDNN choices settled
    times = [timed(lambda: detect(volume, gpu), device)[1] for _ in range(runs)]
    median = statistics.median(times)
    prepared, prep_s = timed(lambda: prepare_volume(volume, gpu.preprocessing), device)
    model_only: dict[str, Any] = {}
    for batch in (16, 64, 256):
        gpu.reconstruct(prepared.images[: 2 * batch], batch_size=batch)  # warm-up of this shape
        spans = [
            timed(lambda b=batch: gpu.reconstruct(prepared.images, batch_size=b), device)[1]
            for _ in range(runs)
        ]
        model_only[str(batch)] = {
            "median_s": round(statistics.median(spans), 4),
            "slices_per_s": round(n / statistics.median(spans), 1),
        }
    out: dict[str, Any] = {
        "shape": list(volume.shape),
        "model_input": list(prepared.images.shape[1:]),
        "runs": runs,
        "detect_s_each": [round(t, 4) for t in times],
        "detect_median_s": round(median, 4),
        "detect_slices_per_s": round(n / median, 1),
        "prepare_volume_s": round(prep_s, 4),
        "reconstruct_by_batch_size": model_only,
        "reconstruct_default_batch": 16,
        "cpu_detect_s": round(cpu_s, 3),
        "cpu_detect_slices_per_s": round(n / cpu_s, 1),
        "cpu_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "speedup_vs_cpu": round(cpu_s / median, 2),
    }
    if device.type == "cuda":
        out["peak_gpu_memory_allocated_mib"] = round(
            torch.cuda.max_memory_allocated(device) / 2**20, 1
        )
        out["peak_gpu_memory_reserved_mib"] = round(
            torch.cuda.max_memory_reserved(device) / 2**20, 1
        )
    return out


def train_round_trip(device: torch.device, epochs: int, size: int) -> dict[str, Any]:
    """Train a tiny model on `device`, save it, load it on CPU (weights_only) and run it."""
    volumes = [
        make_phantom(shape=(24, size, size), seed=7000 + k, lesions=[]).volume for k in range(3)
    ]
    config = TrainConfig(
        device=device.type,
        epochs=epochs,
        base_channels=8,
        max_slices_per_volume=24,
        name="gpu-check-tiny",
    )
    model, train_s = timed(lambda: train_model(volumes, config), device)
    trained_on = next(model.net.parameters()).device
    test = make_phantom(shape=(24, size, size), seed=7100, lesions=[LESIONS[0]])
    result_trained = detect(test.volume, model)
    with tempfile.TemporaryDirectory(prefix="ctviewer-gpu-check-") as tmp:
        path = save_model(model, Path(tmp) / "tiny.pt")
        size_kib = path.stat().st_size / 1024
        loaded = load_model(path, device="cpu")
    on_cpu = {p.device.type for p in loaded.net.parameters()}
    same = all(
        torch.equal(a.detach().cpu(), b)
        for a, b in zip(
            model.net.state_dict().values(), loaded.net.state_dict().values(), strict=True
        )
    )
    result_cpu = detect(test.volume, loaded)
    out = {
        "device": device.type,
        "trained_on": str(trained_on),
        "epochs": epochs,
        "slices": model.metadata["training"]["slices"],
        "final_loss": model.metadata["training"]["final_loss"],
        "train_s": round(train_s, 2),
        "checkpoint_kib": round(size_kib, 1),
        "loaded_param_devices": sorted(on_cpu),
        "loaded_model_device": loaded.info.device,
        "state_dict_equal_after_round_trip": same,
        "detect_on_trained_device": {
            "score": round(result_trained.score, 6),
            "findings": len(result_trained.findings),
        },
        "detect_on_cpu_after_load": {
            "score": round(result_cpu.score, 6),
            "findings": len(result_cpu.findings),
            "abnormal": bool(result_cpu.abnormal),
        },
        "score_abs_diff": float(abs(result_trained.score - result_cpu.score)),
    }
    if on_cpu != {"cpu"} or loaded.info.device != "cpu":
        raise HardFailure(f"checkpoint trained on {device.type} did not load onto the CPU")
    if not same:
        raise HardFailure(f"weights changed in the {device.type} → file → CPU round trip")
    if not np.isfinite(result_cpu.score):
        raise HardFailure("tiny trained model gives a non-finite score on CPU")
    return out


def run(args: argparse.Namespace, report: dict[str, Any]) -> None:
    env = environment()
    report["environment"] = env
    print("== environment")
    for key, value in env.items():
        print(f"  {key}: {value}")
    if args.device == "cuda" and not env["cuda_available"]:
        report["skipped"] = "CUDA is not available on this machine"
        print("CUDA is not available: skipping the CUDA comparison, timing and training")
        return
    if args.device == "cpu":
        print("  (dry run: CPU stands in for CUDA, so every difference should be zero)")
    device = choose_device(args.device)
    small_shape = (32, 128, 128) if args.quick else (64, 256, 256)
    big_shape = (48, 256, 256) if args.quick else (args.slices, args.size, args.size)

    print("== models")
    cpu_model, t_cpu = timed(lambda: load_model(args.model, device="cpu"), torch.device("cpu"))
    gpu_model, t_gpu = timed(lambda: load_model(args.model, device=device.type), device)
    params = {p.device.type for p in gpu_model.net.parameters()}
    report["models"] = {
        "version": cpu_model.info.version,
        "load_cpu_s": round(t_cpu, 3),
        f"load_{device.type}_s": round(t_gpu, 3),
        f"{device.type}_param_devices": sorted(params),
        f"{device.type}_model_device": gpu_model.info.device,
        "channels_last": all(
            p.is_contiguous(memory_format=torch.channels_last)
            for p in gpu_model.net.parameters()
            if p.dim() == 4
        ),
    }
    print(f"  {report['models']}")
    if params != {device.type}:
        raise HardFailure(f"load_model(device={device.type!r}) left parameters on {params}")

    report["detect"] = {}
    big_result: tuple[Phantom, float] | None = None
    for name, shape, seed, spacing in (
        ("small", small_shape, 5001, None),
        ("big", big_shape, 1, (1.0, 0.7, 0.7) if not args.quick else None),
    ):
        truth, made_s = phantom(shape, seed, spacing)
        print(f"== detect, {name} phantom {shape} (made in {made_s:.1f} s), CPU vs {device.type}")
        out, _, cpu_s, _ = check_detect(cpu_model, gpu_model, truth, device)
        out["phantom_s"] = round(made_s, 2)
        report["detect"][name] = out
        print(
            f"  score {out['score'][0]:.6f} vs {out['score'][1]:.6f} (threshold "
            f"{out['threshold']:.4f}; abs diff {out['score_abs_diff']:.2e}, rel "
            f"{out['score_rel_diff']:.2e}); abnormal {out['abnormal']}"
        )
        print(
            f"  map max {out['map_max']:.4f} (findings above {out['pixel_threshold']:.4f}): "
            f"max abs diff {out['map_max_abs_diff']:.2e}, share of voxels differing by more "
            f"than {out['map_frac_voxels_diff_gt']}; slice scores max abs diff "
            f"{out['slice_scores_max_abs_diff']:.2e}"
        )
        print(f"  model output alone: {out['reconstruction']}")
        dice = [p["dice"] for p in out["matching"]["pairs"]]
        print(
            f"  findings {out['findings']}, one-to-one {out['matching']['one_to_one']}, Dice "
            f"{dice}; lesions {out['lesions']} hit CPU {out['lesions_hit'][0]} / "
            f"{device.type} {out['lesions_hit'][1]}"
        )
        if out["problems"]:
            report.setdefault("failures", []).append(f"detect {name}: {out['problems']}")
            print(f"  HARD: {out['problems']}")
        if name == "big":
            big_result = (truth, cpu_s)
        else:
            del truth

    assert big_result is not None
    truth, cpu_s = big_result
    print(f"== timing on {device.type}, {truth.volume.shape}")
    timing = time_inference(gpu_model, cpu_s, truth, device, args.runs)
    report["timing"] = timing
    print(
        f"  detect median {timing['detect_median_s']:.3f} s of {timing['detect_s_each']} = "
        f"{timing['detect_slices_per_s']} slices/s; CPU ({timing['cpu_threads']} threads of "
        f"{timing['cpu_count']} cores) {timing['cpu_detect_s']:.2f} s = "
        f"{timing['cpu_detect_slices_per_s']} slices/s; speed-up {timing['speedup_vs_cpu']}x"
    )
    print(
        f"  prepare_volume {timing['prepare_volume_s']:.3f} s; model alone by batch size "
        f"{timing['reconstruct_by_batch_size']}"
    )
    if "peak_gpu_memory_allocated_mib" in timing:
        print(
            f"  peak GPU memory allocated {timing['peak_gpu_memory_allocated_mib']} MiB, "
            f"reserved {timing['peak_gpu_memory_reserved_mib']} MiB"
        )
    del truth, big_result

    print(f"== train on {device.type} ({args.epochs} epochs), save, load on CPU, detect")
    train = train_round_trip(device, args.epochs, 128)
    report["train_round_trip"] = train
    print(f"  {train}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--quick", action="store_true", help="small phantoms (a dry run)")
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None, help="default: the bundled model")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"argv": sys.argv[1:]}
    started = time.perf_counter()
    code, reason = 0, "ok"
    try:
        run(args, report)
    except HardFailure as error:
        code, reason = 1, str(error)
    except Exception as error:  # a crash on the device is a finding too: keep what ran
        traceback.print_exc()
        code, reason = 1, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    if code == 0 and report.get("failures"):
        code, reason = 1, "; ".join(report["failures"])
    report["total_s"] = round(time.perf_counter() - started, 1)
    report["status"] = "FAIL" if code else ("SKIPPED" if "skipped" in report else "PASS")
    report["reason"] = reason
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"== {report['status']} in {report['total_s']} s: {reason}")
    return code


if __name__ == "__main__":
    sys.exit(main())
