"""One axial slice being drawn: HU and tissue labels, painted structure by structure.

Shapes are ellipses with soft edges (partial-volume fractions, about one pixel wide), computed only
inside their bounding box so that a 512² slice with dozens of structures stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Tissue labels of `Phantom.labels`.
AIR, BODY, LUNG, LIVER, BONE, BLOOD, AIRWAY, TABLE = range(8)


@dataclass
class Region:
    """Where a shape lies: a bounding box (row and column slices) and its coverage in [0, 1]."""

    rows: slice
    cols: slice
    frac: np.ndarray  # (rows, cols) float32


def _halves(offsets: np.ndarray, negative: float, positive: float) -> np.ndarray:
    """The half-axis that applies on each side of the centre."""
    return np.where(offsets < 0, np.float32(negative), np.float32(positive))


class SliceCanvas:
    """An axial slice in patient mm coordinates (`xs` columns, `ys` rows, both ascending)."""

    def __init__(self, xs: np.ndarray, ys: np.ndarray, edge_mm: float) -> None:
        self.xs = xs
        self.ys = ys
        self.edge = edge_mm
        self.hu = np.zeros((ys.size, xs.size), np.float32)
        self.labels = np.zeros((ys.size, xs.size), np.uint8)

    def _span(self, coords: np.ndarray, lo: float, hi: float) -> slice:
        return slice(int(np.searchsorted(coords, lo)), int(np.searchsorted(coords, hi, "right")))

    def ellipse(
        self,
        cx: float,
        cy: float,
        ax: float,
        ay: float,
        *,
        ax_neg: float | None = None,
        ay_neg: float | None = None,
        angle: float = 0.0,
    ) -> Region | None:
        """An ellipse centred at (cx, cy) mm with half-axes `ax`, `ay` (and different half-axes on
        the negative side, `ax_neg`/`ay_neg`, for egg shapes), optionally rotated by `angle` rad.
        None when it is too small or outside the slice."""
        ax_neg = ax if ax_neg is None else ax_neg
        ay_neg = ay if ay_neg is None else ay_neg
        if min(ax, ay, ax_neg, ay_neg) < 0.5:
            return None
        margin = 2 * self.edge
        if angle:
            reach = max(ax, ay, ax_neg, ay_neg) + margin
            x_lo, x_hi, y_lo, y_hi = cx - reach, cx + reach, cy - reach, cy + reach
        else:
            x_lo, x_hi = cx - ax_neg - margin, cx + ax + margin
            y_lo, y_hi = cy - ay_neg - margin, cy + ay + margin
        rows, cols = self._span(self.ys, y_lo, y_hi), self._span(self.xs, x_lo, x_hi)
        if rows.start >= rows.stop or cols.start >= cols.stop:
            return None
        x = (self.xs[cols] - cx).astype(np.float32)
        y = (self.ys[rows] - cy).astype(np.float32)
        if angle:
            c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
            xr = c * x[None, :] + s * y[:, None]
            yr = c * y[:, None] - s * x[None, :]
            r2 = (xr / _halves(xr, ax_neg, ax)) ** 2 + (yr / _halves(yr, ay_neg, ay)) ** 2
        else:
            u = (x / _halves(x, ax_neg, ax)) ** 2
            v = (y / _halves(y, ay_neg, ay)) ** 2
            r2 = v[:, None] + u[None, :]
        # Near the outline, (r² - 1) · R / 2 is the distance in mm (R: the mean half-axis).
        scale = np.float32((ax + ax_neg + ay + ay_neg) / (8 * self.edge))
        frac = np.clip(np.float32(0.5) - (r2 - 1) * scale, 0, 1, out=r2)
        return Region(rows, cols, frac)

    def circle(self, cx: float, cy: float, r: float) -> Region | None:
        return self.ellipse(cx, cy, r, r)

    def paint(
        self, region: Region | None, value: float | np.ndarray, label: int | None = None
    ) -> None:
        """Blend `value` (HU, scalar or an array of the region's shape) in by coverage."""
        if region is None:
            return
        view = self.hu[region.rows, region.cols]
        view += region.frac * (value - view)
        if label is not None:
            self.labels[region.rows, region.cols][region.frac > 0.5] = label

    def shell(
        self, region_outer: Region | None, region_inner: Region | None, hu_outer: float,
        hu_inner: float, label: int,
    ) -> None:  # fmt: skip
        """A bone with a cortical shell: the outer shape, then its marrow."""
        self.paint(region_outer, hu_outer, label)
        self.paint(region_inner, hu_inner, label)
