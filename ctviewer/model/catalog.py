"""The installed models and what each fits; the one place that picks a model for a series.

Every checkpoint declares what it was trained on in `metadata["fits"]` (`Fits`): modality, input
kind (CT in HU or 8-bit images), body parts and field of view, and the share of the input its
scoring region (lungs, brain, body) covered on normals. Installed models are the bundled ones
(`resources/models/*.pt`), those the user added (`ctviewer models add FILE`, listed in
`models/catalog.json` in the user data folder) and the active version learned from feedback.

For a series, `ModelCatalog.choose` reads the body part from the header and the image
(`anatomy.guess_body_parts`) and returns the model that fits, or the reason none does: such a
series is "not assessed", never "normal".
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ctviewer import paths
from ctviewer.errors import CTViewerError
from ctviewer.model.anatomy import AnatomyGuess, guess_body_parts
from ctviewer.model.thresholds import calibrations
from ctviewer.volume import Volume

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
SOURCES = ("learned", "user", "bundled")  # preference when several models fit equally
ORGAN_PARTS = {"lungs": ("chest",), "inner": ("head",)}  # checkpoints older than `fits`
SHARE_TOLERANCE = 4.0  # scoring region's share may be this many times smaller/larger than seen


@dataclass(frozen=True)
class Fits:
    """What a model was trained on, and so what it can judge."""

    modality: str = "CT"
    kind: str = "hu"  # "hu" (CT in Hounsfield units) or "image" (8-bit PNG/JPG slices)
    body_parts: tuple[str, ...] = ()  # () : not known (fits any body part of its kind)
    field_of_view_mm: tuple[float, float] | None = None  # in-plane extent of training images
    organ_share: tuple[float, float] | None = None  # scoring region / input area on normals
    reads_hu: bool = False  # an image model that windows CT in HU first (`hu_window`)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_metadata(cls, metadata: dict) -> Fits:
        """The checkpoint's declaration; older checkpoints get one from their preprocessing."""
        pre = metadata.get("preprocessing", {})
        data = metadata.get("fits") or {}
        kind = str(data.get("kind") or pre.get("kind", "hu"))
        parts = data.get("body_parts")
        if parts is None:
            parts = ORGAN_PARTS.get(str(pre.get("organ", "body")), ())
        fov, share = data.get("field_of_view_mm"), data.get("organ_share")
        return cls(
            modality=str(data.get("modality", "CT")),
            kind=kind,
            body_parts=tuple(str(p) for p in parts),
            field_of_view_mm=tuple(float(v) for v in fov) if fov else None,
            organ_share=tuple(float(v) for v in share) if share else None,
            reads_hu=kind == "hu" or bool(pre.get("hu_window")),
        )

    def parts_text(self) -> str:
        return " + ".join(self.body_parts) if self.body_parts else "any body part"

    def kind_text(self) -> str:
        if self.kind == "hu":
            return "CT in HU"
        return "8-bit images + HU" if self.reads_hu else "8-bit images"


def volume_kind(volume: Volume) -> str:
    return "hu" if volume.is_hu else "image"


def kind_problem(volume: Volume, fits: Fits) -> str:
    """Why a model of this input kind cannot read the volume ("" when it can)."""
    if volume_kind(volume) == fits.kind or (volume.is_hu and fits.reads_hu):
        return ""
    if volume.is_hu:
        return "CT in HU, but the model expects 8-bit images"
    return "8-bit image, but the model expects CT in HU"


def body_part_problem(guess: AnatomyGuess, fits: Fits, name: str) -> str:
    """Why the series shows something else than the model was trained on ("" when it fits or
    when either side cannot tell)."""
    if not fits.body_parts or not guess.parts or set(guess.parts) & set(fits.body_parts):
        return ""
    return (
        f"this series looks like {guess.text()} ({guess.source}), "
        f"but the model {name} is for {fits.parts_text()}"
    )


def organ_share_problem(share: float, fits: Fits) -> str:
    """In-distribution check of the input: the model's scoring region (lungs, brain, body) must
    cover about as much of the input as it did on its normals."""
    if fits.organ_share is None:
        return ""
    low, high = fits.organ_share
    if low / SHARE_TOLERANCE <= share <= high * SHARE_TOLERANCE:
        return ""
    return (
        f"input far outside the training distribution: the region the model looks at covers "
        f"{share:.1%} of it, against {low:.1%}-{high:.1%} on its normals"
    )


@dataclass
class CatalogEntry:
    """One installed model."""

    path: Path
    name: str
    version: str
    fits: Fits
    source: str  # "bundled", "user" or "learned"
    training: str = ""  # what it was trained on, in words
    slices_mm: tuple[float, ...] = ()  # slice spacings it is calibrated at (`model.thresholds`)

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "body_parts": list(self.fits.body_parts),
            "kind": self.fits.kind,
            "training": self.training,
            "calibrated_slices_mm": list(self.slices_mm),
        }

    def slices_text(self) -> str:
        """The slice spacings it is calibrated at, as "calibrated at 2.34-9.38 mm slices
        (9 spacings)", or "" when none is recorded."""
        if not self.slices_mm:
            return ""
        low, high, n = min(self.slices_mm), max(self.slices_mm), len(self.slices_mm)
        span = f"{low:.3g} mm" if low == high else f"{low:.3g}-{high:.3g} mm"
        return f"calibrated at {span} slices" + (f" ({n} spacings)" if n > 1 else "")


def read_entry(path: str | Path, source: str) -> CatalogEntry:
    """Open a checkpoint (safely, as `load_model` does) and describe it; each file is read once
    per modification (the viewer asks for the catalog at every analysis)."""
    resolved = Path(path).resolve()
    mtime = resolved.stat().st_mtime if resolved.exists() else 0.0
    meta = _checkpoint_metadata(str(resolved), mtime)
    return CatalogEntry(
        path=Path(path).resolve(),
        name=str(meta.get("name", Path(path).stem)),
        version=str(meta.get("version", "")),
        fits=Fits.from_metadata(meta),
        source=source,
        training=str(meta.get("training", {}).get("data", "")),
        slices_mm=tuple(sorted({c.slice_mm for c in calibrations(meta) if c.slice_mm})),
    )


def bundled_model_paths() -> list[Path]:
    return sorted((paths.resources_dir() / "models").glob("*.pt"))


def _user_catalog_file() -> Path:
    return paths.models_dir() / CATALOG_FILE


def user_model_paths() -> list[Path]:
    """Models added with `ctviewer models add`, in the order they were added."""
    file = _user_catalog_file()
    if not file.is_file():
        return []
    try:
        listed = json.loads(file.read_text())
    except (OSError, ValueError):
        raise CTViewerError("model catalog is damaged; re-add your models", file) from None
    return [Path(p) for p in listed if isinstance(p, str)]


def add_model(path: str | Path) -> CatalogEntry:
    """Install a model: validated (it must load) and remembered in the user catalog."""
    entry = read_entry(path, "user")
    listed = [p for p in user_model_paths() if p.resolve() != entry.path]
    file = _user_catalog_file()
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps([str(p) for p in [*listed, entry.path]], indent=2))
    tmp.replace(file)
    return entry


@functools.lru_cache(maxsize=32)
def _checkpoint_metadata(path: str, mtime: float) -> dict:
    from ctviewer.model.checkpoint import load_model

    return load_model(path, device="cpu").metadata


@dataclass
class Choice:
    """The model chosen for a series, or why there is none."""

    entry: CatalogEntry | None
    guess: AnatomyGuess
    reason: str = ""  # why not assessed (entry is None)


@dataclass
class ModelCatalog:
    """The installed models; `choose` picks one for a series."""

    entries: list[CatalogEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # models that could not be read

    @classmethod
    def from_paths(cls, sources: Iterable[tuple[Path, str]]) -> ModelCatalog:
        catalog = cls()
        seen: set[Path] = set()
        for path, source in sources:
            if Path(path).resolve() in seen:
                continue
            try:
                entry = read_entry(path, source)
            except CTViewerError as error:
                catalog.problems.append(str(error))
                continue
            seen.add(entry.path)
            catalog.entries.append(entry)
        return catalog

    @classmethod
    def installed(cls) -> ModelCatalog:
        """Bundled, user-added and the active learned model."""
        problems: list[str] = []
        sources: list[tuple[Path, str]] = []
        learned = _active_learned_path(problems)
        if learned is not None:
            sources.append((learned, "learned"))
        sources += [(p, "user") for p in user_model_paths()]
        sources += [(p, "bundled") for p in bundled_model_paths()]
        catalog = cls.from_paths(sources)
        catalog.problems[:0] = problems
        return catalog

    def choose(self, volume: Volume) -> Choice:
        """The best fitting model: same input kind, a body part the series shows (a model that
        names it before one that names none), learned before user-added before bundled."""
        guess = guess_body_parts(volume)
        kind = [e for e in self.entries if not kind_problem(volume, e.fits)]
        if not kind:
            return Choice(None, guess, _no_model_reason(volume, guess, self.entries))
        fitting = [e for e in kind if not body_part_problem(guess, e.fits, e.name)]
        named = [e for e in fitting if set(e.fits.body_parts) & set(guess.parts)]
        pool = named or [e for e in fitting if not e.fits.body_parts]
        if not pool and not guess.parts and len(fitting) == 1:
            pool = fitting  # the one model of this kind; its input check still applies
        if not pool:
            if not guess.parts and fitting:
                names = ", ".join(f"{e.name} ({e.fits.parts_text()})" for e in fitting)
                return Choice(
                    None,
                    guess,
                    "could not tell the body part of this series (the header does not say and "
                    f"the image is unclear); choose one of {names} with --model",
                )
            return Choice(None, guess, _no_model_reason(volume, guess, self.entries))
        pool.sort(key=lambda e: SOURCES.index(e.source))
        return Choice(pool[0], guess)


def _no_model_reason(volume: Volume, guess: AnatomyGuess, entries: list[CatalogEntry]) -> str:
    part = f"{guess.main} " if guess.parts else ""
    what = f"{part}CT" if volume.is_hu else f"8-bit {part}images"
    if guess.parts and volume.is_hu:
        part = guess.main
        how = (
            f"train one with `ctviewer train NORMAL_{part.upper()}_CT_FOLDERS "
            f"--body-part {part} --out {part}.pt`, then `ctviewer models add {part}.pt`"
        )
    elif not volume.is_hu:
        how = (
            "train one on normal images like it with `ctviewer train FOLDER --out M.pt` "
            "(`--recipe head-ct` for head CT slices), then `ctviewer models add M.pt`"
        )
    else:
        how = "train one with `ctviewer train NORMAL_FOLDERS --out M.pt`, then add it"
    installed = "; installed: " + ", ".join(
        f"{e.name} ({e.fits.parts_text()}, {e.fits.kind_text()})" for e in entries
    )
    return f"no model for {what} installed — {how}{installed if entries else ''}"


def _active_learned_path(problems: list[str]) -> Path | None:
    """The active version learned from feedback, if any (`feedback.versions`): a promoted file
    that is gone is an error, never a silent fall-back; a store that cannot be read falls back
    to its pointer file with a warning, since detection must not need the store."""
    from ctviewer.feedback.versions import resolve_active_model

    active = resolve_active_model()
    if active.note:
        log.warning("%s", active.note)
    return active.path if active.version is not None else None
