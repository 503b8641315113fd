"""A small archive to screen: chest phantoms of 16×96² as DICOM series (some with a large nodule)
and as NIfTI, plus an empty air volume that no model can judge (not assessed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHAPE = (16, 96, 96)
SICK = (0, 3)  # DICOM phantoms with a nodule


def write_archive(folder: Path, dicom: int = 6) -> Path:
    """`folder/dicom/pN` series, `folder/nifti/chest.nii.gz` and `folder/nifti/air.nii.gz`."""
    import SimpleITK as sitk

    from ctviewer.synth.phantom import Lesion, make_phantom, write_dicom_series

    for n in range(dicom):
        lesions = [Lesion("nodule", radius_mm=24.0, seed=n)] if n in SICK else []
        phantom = make_phantom(shape=SHAPE, seed=200 + n, lesions=lesions)
        write_dicom_series(phantom, folder / "dicom" / f"p{n}", patient_id=f"SCREEN{n}")
    (folder / "nifti").mkdir(parents=True)
    volume = make_phantom(shape=SHAPE, seed=300).volume
    for name, array in (("chest", volume.array), ("air", np.full(SHAPE, -1000.0))):
        image = sitk.GetImageFromArray(array.astype(np.int16))
        image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
        sitk.WriteImage(image, str(folder / "nifti" / f"{name}.nii.gz"))
    return folder


def subprocess_env(home: Path) -> dict[str, str]:
    """The environment of a `python -m ctviewer` child: this checkout first, one thread."""
    env = dict(os.environ, CTVIEWER_HOME=str(home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).strip(os.pathsep)
    return env


PYTHON = sys.executable
