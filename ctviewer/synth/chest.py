"""Draw one axial slice of the chest phantom at a given z, structure by structure.

Painter's order: body wall (skin, fat, muscle) → lungs with vessels → diaphragm domes (liver,
spleen, stomach) → mediastinum (fat, heart, great vessels, airway, oesophagus) → spine and back
muscles → ribs and sternum → table. HU values are typical unenhanced values; `contrast=True`
brightens blood and liver as in a venous-phase scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ctviewer.synth.anatomy import CHEST_LENGTH_MM, Anatomy, bump, ramp, wobble
from ctviewer.synth.canvas import AIRWAY, BLOOD, BODY, BONE, LIVER, LUNG, TABLE, SliceCanvas

HU = {
    "air": -1000.0, "skin": 30.0, "fat": -100.0, "muscle": 45.0, "soft": 35.0,
    "mediastinal_fat": -85.0, "lung": -860.0, "vessel": 40.0, "blood": 40.0,
    "blood_contrast": 180.0, "liver": 60.0, "liver_contrast": 105.0, "spleen": 48.0,
    "stomach": 15.0, "cortical": 700.0, "cancellous": 250.0, "disc": 80.0, "csf": 10.0,
    "rib_cortex": 550.0, "rib_marrow": 220.0, "cartilage": 130.0, "table_shell": 300.0,
    "table_foam": -900.0,
}  # fmt: skip
BODY_EXPONENT = 2.4  # a superellipse: the torso is boxier than an ellipse
VESSEL_GRID_MM = 3.0  # the lung texture fields live on this coarse grid …
VESSEL_SMOOTH = 2.0  # … smoothed by this many grid cells (vessel spacing ~1 cm)


def chest_t(z_mm: float) -> float:
    """Normalised anatomy coordinate of a slice (0 apex, 1 base); the volume centre is t = 0.5."""
    return 0.5 - z_mm / CHEST_LENGTH_MM


@dataclass
class LungTexture:
    """Three smooth unit-variance random fields on a coarse grid: two whose common zero set
    traces the vessel tree (tubes that branch and wander in 3D), one for parenchymal mottling."""

    fields: np.ndarray  # (3, zc, yc, xc) float32
    origin: tuple[float, float, float]  # mm of the first grid point (z, y, x)

    @classmethod
    def sample(
        cls, rng: np.random.Generator, z_range: tuple[float, float], half_fov: float
    ) -> LungTexture:
        pad = 3 * VESSEL_GRID_MM * VESSEL_SMOOTH
        z0, y0 = z_range[0] - pad, -half_fov - pad
        nz = int((z_range[1] - z_range[0] + 2 * pad) / VESSEL_GRID_MM) + 2
        nxy = int((2 * half_fov + 2 * pad) / VESSEL_GRID_MM) + 2
        noise = rng.standard_normal((3, nz, nxy, nxy), dtype=np.float32)
        sigma = (0, VESSEL_SMOOTH, VESSEL_SMOOTH, VESSEL_SMOOTH)
        fields = ndimage.gaussian_filter(noise, sigma, truncate=3.0)
        fields /= fields.std(axis=(1, 2, 3), keepdims=True)
        return cls(fields, (z0, y0, y0))

    def plane(self, z_mm: float, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """The fields on the (ys × xs) grid of slice z, by linear interpolation: (3, ny, nx)."""
        z0, y0, x0 = self.origin
        iz, wz = _cell(np.array([z_mm]), z0, self.fields.shape[1])
        coarse = self.fields[:, iz[0]] * (1 - wz[0]) + self.fields[:, iz[0] + 1] * wz[0]
        iy, wy = _cell(ys, y0, self.fields.shape[2])
        rows = coarse[:, iy] * (1 - wy)[:, None] + coarse[:, iy + 1] * wy[:, None]
        ix, wx = _cell(xs, x0, self.fields.shape[3])
        return rows[:, :, ix] * (1 - wx) + rows[:, :, ix + 1] * wx


def _cell(coords: np.ndarray, origin: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    pos = np.clip((coords - origin) / VESSEL_GRID_MM, 0, n - 1.001)
    index = pos.astype(np.intp)
    return index, (pos - index).astype(np.float32)


@dataclass
class SliceGeometry:
    """The body outline of one slice, which every other structure is placed against."""

    t: float
    z: float
    cx: float
    cy: float
    a: float
    b_ant: float
    b_post: float
    inner: float  # where the body cavity starts, as a fraction of the outline (superellipse)

    @property
    def cavity(self) -> tuple[float, float, float]:
        """Half-axes of the body cavity (lateral, anterior, posterior)."""
        return self.a * self.inner, self.b_ant * self.inner, self.b_post * self.inner


def slice_geometry(anat: Anatomy, z_mm: float) -> SliceGeometry:
    t = chest_t(z_mm)
    widen = 0.9 + 0.1 * ramp(t, -0.1, 0.45)
    a = anat.body_a * widen * (1 + wobble(anat.wobble_a, t))
    b_ant = anat.body_b_ant * (0.88 + 0.12 * ramp(t, -0.1, 0.55)) * (1 + wobble(anat.wobble_b, t))
    radius = 0.5 * (a + 0.5 * (b_ant + anat.body_b_post))
    inner = 1 - (anat.skin + anat.fat + anat.muscle) / radius
    return SliceGeometry(t, z_mm, anat.body_cx, anat.body_cy, a, b_ant, anat.body_b_post, inner)


def draw_body(canvas: SliceCanvas, anat: Anatomy, g: SliceGeometry) -> None:
    """Skin, subcutaneous fat and muscle around a soft-tissue cavity; air outside."""
    p = BODY_EXPONENT
    x = np.abs(canvas.xs - g.cx) / g.a
    y = canvas.ys - g.cy
    y = np.abs(y) / np.where(y < 0, g.b_ant, g.b_post)
    s = (y**p)[:, None].astype(np.float32) + (x**p)[None, :].astype(np.float32)
    radius = 0.5 * (g.a + 0.5 * (g.b_ant + g.b_post))
    half = 0.5 * canvas.edge / radius
    bounds = [g.inner, 1 - (anat.skin + anat.fat) / radius, 1 - anat.skin / radius, 1.0]
    values = [HU["soft"], HU["muscle"], HU["fat"], HU["skin"], HU["air"]]
    xp, fp = [0.0], [values[0]]
    for bound, inside, outside in zip(bounds, values[:-1], values[1:], strict=True):
        xp += [(bound - half) ** p, (bound + half) ** p]
        fp += [inside, outside]
    canvas.hu[:] = np.interp(s, xp, fp)
    canvas.labels[:] = np.where(s < 1, BODY, 0)


def draw_lungs(canvas: SliceCanvas, anat: Anatomy, g: SliceGeometry, texture: LungTexture) -> None:
    ai, ba, bp = g.cavity
    grow = np.sqrt(ramp(g.t, 0.0, 0.3)) * (1 - ramp(g.t, 0.97, 1.12)) * anat.lung_scale
    for side in (-1, 1):  # patient right (-x in LPS), then left
        size = grow * (0.94 if side > 0 else 1.0)
        cx = g.cx + side * 0.5 * ai
        cy = g.cy + 0.04 * bp
        lateral, medial = 0.45 * ai * size, 0.4 * ai * size
        region = canvas.ellipse(
            cx,
            cy,
            lateral if side > 0 else medial,
            0.92 * bp * size,
            ax_neg=medial if side > 0 else lateral,
            ay_neg=0.82 * ba * size,
        )
        if region is None:
            continue
        ys, xs = canvas.ys[region.rows], canvas.xs[region.cols]
        n_vessel_a, n_vessel_b, mottle = texture.plane(g.z, ys, xs)
        # Vessels are thick near the hilum and thin out towards the pleura.
        hilum_x, hilum_y = g.cx + side * 0.22 * ai, g.cy - 0.05 * bp
        dz = (g.t - 0.45) * CHEST_LENGTH_MM
        d2 = ((ys - hilum_y) ** 2)[:, None] + ((xs - hilum_x) ** 2)[None, :] + dz**2
        width = 0.15 + 0.3 * np.exp(-d2 / (2 * 55.0**2)).astype(np.float32)
        vessel = np.exp(-(n_vessel_a**2 + n_vessel_b**2) / (2 * width**2))
        posterior = np.clip((ys - g.cy) / bp, -1, 1)[:, None].astype(np.float32)
        base = HU["lung"] + anat.lung_gravity_hu * 0.5 * (posterior + 1) + 15 * mottle
        canvas.paint(region, base + vessel * (HU["vessel"] - base), LUNG)


def draw_mediastinal_fat(canvas: SliceCanvas, g: SliceGeometry, spine_y: float, r: float) -> None:
    """Fat between the lungs, from sternum to spine (drawn before the domes cover it)."""
    ai, ba, _ = g.cavity
    front = spine_y - r
    width = 0.17 * ai * np.sqrt(bump(g.t, -0.15, 0.95))
    canvas.paint(
        canvas.ellipse(g.cx + 0.03 * ai, front - 10, width, 12.0, ay_neg=front - 10 - (g.cy - ba)),
        HU["mediastinal_fat"], BODY,
    )  # fmt: skip


def draw_abdomen(canvas: SliceCanvas, anat: Anatomy, g: SliceGeometry, contrast: bool) -> None:
    """The diaphragm domes rising into the chest: liver on the right, spleen and stomach left."""
    ai, ba, bp = g.cavity
    right = np.sqrt(ramp(g.t, anat.dome_right_t, 1.02)) * anat.liver_scale
    liver = canvas.ellipse(
        g.cx - 0.3 * ai, g.cy - 0.05 * bp, 0.62 * ai * right, 0.92 * bp * right,
        ax_neg=0.68 * ai * right, ay_neg=0.9 * ba * right,
    )  # fmt: skip
    canvas.paint(liver, HU["liver_contrast" if contrast else "liver"], LIVER)
    left = np.sqrt(ramp(g.t, anat.dome_right_t + anat.dome_left_dt, 1.05))
    if left <= 0:
        return
    canvas.paint(
        canvas.ellipse(g.cx + 0.45 * ai, g.cy, 0.5 * ai * left, 0.9 * bp * left,
                       ay_neg=0.85 * ba * left),
        HU["soft"], BODY,
    )  # fmt: skip
    stomach = canvas.ellipse(g.cx + 0.4 * ai, g.cy - 0.3 * ba, 0.3 * ai * left, 0.4 * ba * left)
    canvas.paint(stomach, HU["stomach"], BODY)
    # Swallowed air floats up (anterior, the patient lies supine).
    canvas.paint(
        canvas.ellipse(g.cx + 0.4 * ai, g.cy - 0.55 * ba, 0.18 * ai * left, 0.12 * ba * left),
        HU["air"], AIRWAY,
    )  # fmt: skip
    spleen = ramp(g.t, 0.85, 1.05)
    canvas.paint(
        canvas.ellipse(g.cx + 0.62 * ai, g.cy + 0.5 * bp, 0.22 * ai * spleen, 0.3 * bp * spleen),
        HU["spleen"], BODY,
    )  # fmt: skip


def draw_mediastinum(
    canvas: SliceCanvas, anat: Anatomy, g: SliceGeometry, contrast: bool, spine_y: float
) -> None:
    ai, ba, bp = g.cavity
    t = g.t
    blood = HU["blood_contrast" if contrast else "blood"]
    front = spine_y - anat.vertebra_r  # anterior edge of the vertebral bodies
    # Heart in its pericardial fat, tilted to the left.
    h = np.sqrt(bump(t, 0.34, 0.84)) * anat.heart_scale
    hx, hy = g.cx + 0.12 * ai + anat.heart_dx, g.cy - 0.2 * ba
    fat = canvas.ellipse(hx, hy, 0.42 * ai * h + 4, 0.5 * ba * h + 4, angle=anat.heart_angle)
    canvas.paint(fat, HU["mediastinal_fat"], BODY)
    heart = canvas.ellipse(hx, hy, 0.42 * ai * h, 0.5 * ba * h, angle=anat.heart_angle)
    canvas.paint(heart, HU["muscle"] if contrast else blood, BLOOD)
    if contrast:
        chambers = canvas.ellipse(hx, hy, 0.3 * ai * h, 0.38 * ba * h, angle=anat.heart_angle)
        canvas.paint(chambers, blood, BLOOD)
    # Great vessels: ascending aorta, arch, descending aorta, superior vena cava, pulmonary trunk.
    r = anat.aorta_r
    asc = (g.cx + 0.02 * ai, g.cy - 0.32 * ba)
    desc = (g.cx + anat.vertebra_r + 0.4 * r, front - 0.2 * r)
    canvas.paint(canvas.circle(*asc, r * np.sqrt(bump(t, 0.17, 0.62))), blood, BLOOD)
    canvas.paint(canvas.circle(*desc, 0.85 * r * np.sqrt(bump(t, 0.12, 1.5))), blood, BLOOD)
    arch = bump(t, 0.11, 0.2)
    if arch > 0:
        dx, dy = desc[0] - asc[0], desc[1] - asc[1]
        canvas.paint(
            canvas.ellipse((asc[0] + desc[0]) / 2, (asc[1] + desc[1]) / 2,
                           np.hypot(dx, dy) / 2 + r * arch, r * arch, angle=np.arctan2(dy, dx)),
            blood, BLOOD,
        )  # fmt: skip
    canvas.paint(canvas.circle(asc[0] - r - 12, asc[1] + 6, 9 * bump(t, 0.0, 0.5)), blood, BLOOD)
    trunk = (g.cx + 0.14 * ai, g.cy - 0.3 * ba)
    canvas.paint(canvas.circle(*trunk, 13 * np.sqrt(bump(t, 0.3, 0.52))), blood, BLOOD)
    for dx, dy, rv in ((-18, -10, 6), (0, -16, 5), (16, -8, 5)):  # arch branches near the apex
        canvas.paint(
            canvas.circle(asc[0] + dx, asc[1] + dy, rv * bump(t, -0.3, 0.16)), blood, BLOOD
        )
    # Airway: trachea, then the main bronchi diverging; oesophagus behind, left of midline.
    ty = front - 27
    wall = 2.0
    trachea = 9.0 * (1 - ramp(t, 0.36, 0.4))
    canvas.paint(canvas.circle(g.cx, ty, trachea + wall), HU["muscle"], BODY)
    canvas.paint(canvas.circle(g.cx, ty, trachea), HU["air"], AIRWAY)
    split = ramp(t, 0.36, 0.48)
    bronchus = 6.5 * bump(t, 0.34, 0.5)
    for side in (-1, 1):
        bx, by = g.cx + side * (6 + 0.2 * ai * split), ty + 12 * split
        canvas.paint(canvas.circle(bx, by, bronchus + wall), HU["muscle"], BODY)
        canvas.paint(canvas.circle(bx, by, bronchus), HU["air"], AIRWAY)
    canvas.paint(canvas.circle(g.cx + 5, front - 9, 7 * bump(t, -0.5, 1.2)), HU["muscle"], BODY)


def draw_spine(canvas: SliceCanvas, anat: Anatomy, g: SliceGeometry, spine_y: float) -> None:
    """Vertebral body (cortical shell, cancellous core) or a disc, canal, arch, back muscles."""
    r = anat.vertebra_r
    for side in (-1, 1):  # paraspinal muscles
        canvas.paint(
            canvas.ellipse(g.cx + side * 26, spine_y + r + 19, 23.0, 19.0), HU["muscle"], BODY
        )
    in_disc = (g.z + anat.vertebra_phase) % anat.vertebra_period < 5.0
    body_out = canvas.ellipse(g.cx, spine_y, 1.12 * r, r)
    if in_disc:
        canvas.paint(body_out, HU["disc"], BODY)
        return
    body_in = canvas.ellipse(g.cx, spine_y, 1.12 * r - 1.5, r - 1.5)
    canvas.shell(body_out, body_in, HU["cortical"], HU["cancellous"], BONE)
    canal_y = spine_y + r + 9
    canvas.paint(canvas.ellipse(g.cx, canal_y + 2, 14.0, 13.0), HU["cortical"], BONE)  # arch
    canvas.paint(canvas.ellipse(g.cx, canal_y + 22, 4.5, 14.0), HU["cortical"], BONE)  # spinous
    canvas.paint(canvas.ellipse(g.cx, canal_y + 4, 30.0, 5.0), HU["cortical"], BONE)  # transverse
    canvas.paint(canvas.ellipse(g.cx, canal_y, 8.5, 8.0), HU["csf"], BODY)  # canal


def draw_ribs(canvas: SliceCanvas, anat: Anatomy, g: SliceGeometry) -> None:
    """Ribs leave the spine high and descend towards the front, so an axial slice cuts each one
    obliquely: an elongated bony section on the inner chest wall (cartilage near the sternum)."""
    ai, ba, bp = g.cavity
    z_top = (0.5 - 0.02) * CHEST_LENGTH_MM + anat.rib_phase
    for k in range(12):
        theta = 0.35 + (z_top - k * anat.rib_period - g.z) / anat.rib_slope
        end = 2.55 - 0.09 * max(0, k - 6)  # lower ribs stop short of the front
        if not 0.35 <= theta <= end:
            continue
        cartilage = theta > end - 0.35
        for side in (-1, 1):
            # Point of the cavity outline (ellipse) at angle theta from the back, then 6 mm in.
            dx, dy = np.sin(theta), np.cos(theta)
            b = bp if dy > 0 else ba
            dist = 1.0 / np.hypot(dx / ai, dy / b) - 2.0
            px, py = g.cx + side * dx * dist, g.cy + dy * dist
            tangent = np.arctan2(-dx * side * b**2, dy * ai**2 + 1e-9)
            half_len = 0.5 * 11.0 / anat.rib_slope * dist + 4.0
            outer = canvas.ellipse(px, py, half_len, 4.5, angle=float(tangent))
            if cartilage:
                canvas.paint(outer, HU["cartilage"], BONE)
            else:
                inner = canvas.ellipse(px, py, half_len - 1.5, 3.0, angle=float(tangent))
                canvas.shell(outer, inner, HU["rib_cortex"], HU["rib_marrow"], BONE)
    sternum = bump(g.t, 0.05, 0.8)
    if sternum > 0:
        sy = g.cy - ba - 5
        width = 14.0 + 10.0 * (1 - ramp(g.t, 0.1, 0.25))  # the manubrium is wider
        outer = canvas.ellipse(g.cx, sy, width * np.sqrt(sternum), 7.0)
        inner = canvas.ellipse(g.cx, sy, width * np.sqrt(sternum) - 1.5, 5.5)
        canvas.shell(outer, inner, HU["rib_cortex"], HU["rib_marrow"], BONE)


@dataclass
class TableImage:
    """The patient table (curved carbon shells around foam), the same on every slice."""

    rows: slice
    values: np.ndarray  # HU, (rows, x)
    coverage: np.ndarray  # [0, 1], (rows, x)


def table_image(canvas: SliceCanvas, top_y: float) -> TableImage:
    top = top_y - canvas.xs**2 / 2500.0  # the cradle curves up at the sides
    depth = canvas.ys[:, None] - top[None, :]
    half, thick, shell = 0.5 * canvas.edge, 40.0, 3.0
    coverage = np.interp(depth, [-half, half, thick - half, thick + half], [0, 1, 1, 0])
    coverage *= np.abs(canvas.xs) < 230
    values = np.interp(
        depth,
        [shell - half, shell + half, thick - shell - half, thick - shell + half],
        [HU["table_shell"], HU["table_foam"], HU["table_foam"], HU["table_shell"]],
    )
    used = np.flatnonzero(coverage.any(axis=1))
    rows = slice(int(used[0]), int(used[-1]) + 1) if used.size else slice(0, 0)
    return TableImage(rows, values[rows].astype(np.float32), coverage[rows].astype(np.float32))


def draw_table(canvas: SliceCanvas, table: TableImage) -> None:
    view, labels = canvas.hu[table.rows], canvas.labels[table.rows]
    free = (labels == 0) * table.coverage
    view += free * (table.values - view)
    labels[free > 0.5] = TABLE


def render_slice(
    canvas: SliceCanvas,
    anat: Anatomy,
    z_mm: float,
    texture: LungTexture,
    table: TableImage,
    contrast: bool,
) -> None:
    """Fill `canvas` with the slice at `z_mm` (mm, LPS: + is towards the head)."""
    g = slice_geometry(anat, z_mm)
    spine_y = g.cy + g.b_post - 65.0
    draw_body(canvas, anat, g)
    draw_lungs(canvas, anat, g, texture)
    draw_mediastinal_fat(canvas, g, spine_y, anat.vertebra_r)
    draw_abdomen(canvas, anat, g, contrast)
    draw_mediastinum(canvas, anat, g, contrast, spine_y)
    draw_spine(canvas, anat, g, spine_y)
    draw_ribs(canvas, anat, g)
    draw_table(canvas, table)
