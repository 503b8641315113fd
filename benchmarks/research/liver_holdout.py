"""Liver lesions on phantoms that neither training, calibration nor the bench used (seeds 8000+):
each volume holds one liver lesion (`random_lesions`, kind liver: 6-16 mm radius, 30 %
hyperdense 100-130 HU, else 5-35 HU in a 60 HU liver), and a normal volume of another seed
(9000+) beside it. Reported: liver lesions found, false findings per volume, and how many
lesions differ from the liver by more than 20 HU (visible).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/research/liver_holdout.py --model M
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ctviewer.model.checkpoint import load_model
from ctviewer.pipeline import detect
from ctviewer.synth.lesions import random_lesions
from ctviewer.synth.phantom import make_phantom


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--volumes", type=int, default=12)
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 256, 256))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = load_model(args.model, device="cpu")
    shape = tuple(args.shape)
    found, visible, fp_lesion, fp_normal, rows = 0, 0, 0, 0, []
    for i in range(args.volumes):
        lesions = random_lesions(np.random.default_rng(8000 + i), 1, ("liver",))
        phantom = make_phantom(shape=shape, seed=8000 + i, lesions=lesions)
        result = detect(phantom.volume, model)
        hit = bool(result.labels[phantom.lesion_labels == 1].any())
        lesion = phantom.lesions[0]
        contrast = abs(lesion.value_hu - 60.0)
        found += hit
        visible += contrast > 20
        fp_lesion += sum(not phantom.mask[result.labels == f.id].any() for f in result.findings)
        fp_normal += len(detect(make_phantom(shape=shape, seed=9000 + i).volume, model).findings)
        rows.append({"r_mm": lesion.radius_mm, "hu": round(lesion.value_hu, 1), "found": hit})
    print(
        json.dumps(
            {
                "model": model.info.version,
                "shape": list(shape),
                "liver_found": f"{found}/{args.volumes}",
                "visible_over_20hu": f"{visible}/{args.volumes}",
                "false_positives_per_volume_with_lesion": round(fp_lesion / args.volumes, 2),
                "false_positives_per_normal_volume": round(fp_normal / args.volumes, 2),
                "lesions": rows,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
