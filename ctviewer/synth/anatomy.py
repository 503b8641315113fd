"""The random build of one synthetic patient: sizes and positions that vary between seeds.

All lengths are in mm. The anatomy runs along `t`, a normalised head-to-feet coordinate: `t = 0`
at the lung apices, `t = 1` at the lung bases (under the diaphragm domes); slices outside [0, 1]
show the thoracic inlet above and the upper abdomen below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHEST_LENGTH_MM = 280.0  # apex (t = 0) to base (t = 1)


@dataclass(frozen=True)
class Anatomy:
    """Per-patient parameters; `wobble_*` are (amplitude, frequency, phase) triples that make the
    body outline vary smoothly along z."""

    body_cx: float
    body_cy: float
    body_a: float  # lateral half-width at mid-chest
    body_b_ant: float  # anterior half-depth
    body_b_post: float  # posterior half-depth
    skin: float
    fat: float  # subcutaneous fat thickness
    muscle: float
    lung_scale: float
    lung_gravity_hu: float  # posterior (dependent) lung is denser by this much
    heart_scale: float
    heart_dx: float
    heart_angle: float
    aorta_r: float
    vertebra_r: float
    vertebra_period: float  # vertebra + disc height
    vertebra_phase: float
    rib_period: float
    rib_phase: float
    rib_slope: float  # mm of descent per radian from back to front
    dome_right_t: float  # where the right diaphragm dome (liver) starts
    dome_left_dt: float  # left dome starts this much lower
    liver_scale: float
    wobble_a: tuple[tuple[float, float, float], ...]
    wobble_b: tuple[tuple[float, float, float], ...]


def _wobble(rng: np.random.Generator) -> tuple[tuple[float, float, float], ...]:
    return tuple(
        (float(rng.uniform(0.004, 0.015)), float(rng.uniform(1.0, 4.0)), float(rng.uniform(0, 6.3)))
        for _ in range(3)
    )


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """A plausible adult chest; every seed gives a different but normal patient."""
    return Anatomy(
        body_cx=float(rng.normal(0.0, 4.0)),
        body_cy=float(rng.normal(-25.0, 4.0)),
        body_a=float(rng.uniform(150.0, 180.0)),
        body_b_ant=float(rng.uniform(95.0, 120.0)),
        body_b_post=float(rng.uniform(100.0, 115.0)),
        skin=float(rng.uniform(1.5, 2.5)),
        fat=float(rng.uniform(6.0, 24.0)),
        muscle=float(rng.uniform(8.0, 14.0)),
        lung_scale=float(rng.uniform(0.92, 1.05)),
        lung_gravity_hu=float(rng.uniform(20.0, 70.0)),
        heart_scale=float(rng.uniform(0.85, 1.1)),
        heart_dx=float(rng.normal(0.0, 6.0)),
        heart_angle=float(rng.uniform(0.25, 0.6)),
        aorta_r=float(rng.uniform(11.0, 15.0)),
        vertebra_r=float(rng.uniform(15.0, 19.0)),
        vertebra_period=float(rng.uniform(23.0, 28.0)),
        vertebra_phase=float(rng.uniform(0.0, 28.0)),
        rib_period=float(rng.uniform(22.0, 27.0)),
        rib_phase=float(rng.uniform(0.0, 25.0)),
        rib_slope=float(rng.uniform(42.0, 52.0)),
        dome_right_t=float(rng.uniform(0.6, 0.7)),
        dome_left_dt=float(rng.uniform(0.03, 0.08)),
        liver_scale=float(rng.uniform(0.9, 1.05)),
        wobble_a=_wobble(rng),
        wobble_b=_wobble(rng),
    )


def ramp(t: float, t0: float, t1: float) -> float:
    """0 before t0, 1 after t1, linear between."""
    return float(np.clip((t - t0) / (t1 - t0), 0.0, 1.0))


def bump(t: float, t0: float, t1: float) -> float:
    """A smooth hump: 0 outside [t0, t1], 1 in the middle."""
    if not t0 < t < t1:
        return 0.0
    return float(np.sin(np.pi * (t - t0) / (t1 - t0)))


def wobble(terms: tuple[tuple[float, float, float], ...], t: float) -> float:
    """A smooth relative deviation along z (a few percent)."""
    return float(sum(amp * np.sin(freq * 2 * np.pi * t + phase) for amp, freq, phase in terms))
