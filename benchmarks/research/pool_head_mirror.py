"""Pool the head CV scoring-variant runs (seeds 0-4, kept networks) into one mirror / no-mirror
comparison: mean ± sd over fold-runs, the paired per-fold AUROC change and each score's control.

    python benchmarks/research/pool_head_mirror.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "results"
# results file → which ALT key holds: no mirror, mirror 1, mirror 0.5, flip (no mirror)
FILES = {
    "crossval_head_scoring_variants.json": ("recipe", "mirror=1", "mirror=0.5", "flip=true"),
    "crossval_head_scoring_variants_seed2.json": ("recipe", "mirror=1", "mirror=0.5", None),
    "crossval_head_scoring_variants_seed34.json": (
        "mirror=0",
        "recipe",
        "mirror=0.5",
        "flip=true,mirror=0",
    ),
}
VARIANTS = ("no mirror", "mirror 1", "mirror 0.5", "flip")
RULE = "|all|empirical|0.95"  # the recipe's own threshold rule


def main() -> None:
    rows: dict[str, list] = {v: [] for v in VARIANTS}
    for name, keys in FILES.items():
        for run in json.loads((RESULTS / name).read_text())["runs"]:
            for variant, key in zip(VARIANTS, keys, strict=True):
                if key is not None:
                    alt = run["alternatives"]
                    rows[variant].append(
                        ((run["seed"], run["fold"]), alt[key + RULE], alt[key + "|control"])
                    )
    base = {fold: m["auroc"] for fold, m, _ in rows["no mirror"]}
    for variant, found in rows.items():

        def stat(values) -> str:
            return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"

        delta = np.array([m["auroc"] - base[fold] for fold, m, _ in found])
        print(
            f"{variant}: {len(found)} fold-runs, AUROC {stat([m['auroc'] for _, m, _ in found])}, "
            f"accuracy {stat([m['accuracy'] for _, m, _ in found])}, Δ AUROC {stat(delta)} "
            f"(up {(delta > 1e-9).sum()}, down {(delta < -1e-9).sum()}); control AUROC "
            f"{stat([c['auroc'] for _, _, c in found])}, accuracy "
            f"{stat([c['accuracy'] for _, _, c in found])}"
        )


if __name__ == "__main__":
    main()
