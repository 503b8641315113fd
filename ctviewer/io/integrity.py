"""Do NIfTI and NRRD files hold every byte their headers declare?

SimpleITK fills what a truncated `.nii`/`.nii.gz` (or an NRRD whose gzip stream lost its end) lacks
with zeros and reports success, so a 5 kB prefix of a CT would load as a full volume and get a
verdict. These checks read the header ourselves and measure the data actually present: from the
file size (uncompressed), the gzip trailer (`quick`, for discovery), or by decompressing the
whole stream, which also checks its CRC (before reading pixels). MetaImage needs none: ITK refuses
a short `.mha`/`.mhd` itself (after printing a line of its own).
"""

from __future__ import annotations

import bz2
import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ctviewer.errors import InputError

CHUNK = 1 << 20
NRRD_HEADER_LIMIT = 1 << 16  # a header longer than this is not one we can trust anyway


def check_complete(path: str, quick: bool = False) -> None:
    """InputError naming `path` when its header declares more data than the file holds, or its
    compressed stream is cut short or corrupt. `quick` skips full decompression where a cheaper
    sign (the gzip trailer) agrees with the header."""
    name = Path(path).name.lower()
    try:
        if name.endswith((".nii", ".nii.gz")):
            _check_nifti(path, quick)
        elif name.endswith((".nrrd", ".nhdr")):
            _check_nrrd(path, quick)
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror or error})", path) from None


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _stream_length(stream: BinaryIO, path: str, what: str = "gzip") -> int:
    """Bytes a compressed stream decompresses to; InputError when it is cut short or corrupt."""
    total = 0
    try:
        while chunk := stream.read(CHUNK):
            total += len(chunk)
    except (EOFError, OSError, zlib.error, ValueError) as error:
        raise InputError(f"truncated or corrupt {what} data ({error})", path) from None
    return total


def _gzip_trailer_size(path: str) -> int:
    """The uncompressed size (mod 2**32) the last gzip member's trailer records."""
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) < 4:
            return -1
        f.seek(-4, os.SEEK_END)
        return struct.unpack("<I", f.read(4))[0]


def _short(path: str, declared: int, present: int) -> InputError:
    return InputError(
        f"truncated: the header declares {declared} bytes of image data, the file holds {present}",
        path,
    )


# ---------------------------------------------------------------------------------------------
# NIfTI-1 / NIfTI-2


def nifti_declared_bytes(header: bytes) -> int | None:
    """vox_offset + voxel bytes that a NIfTI-1 or -2 header declares; None if it is neither."""
    for endian in "<>":
        if len(header) >= 348 and struct.unpack(endian + "i", header[:4])[0] == 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = struct.unpack(endian + "f", header[108:112])[0]
            break
        if len(header) >= 540 and struct.unpack(endian + "i", header[:4])[0] == 540:
            bitpix = struct.unpack(endian + "h", header[14:16])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            offset = struct.unpack(endian + "q", header[168:176])[0]
            break
    else:
        return None
    n_dims = dims[0]
    if not 1 <= n_dims <= 7 or bitpix <= 0 or not math.isfinite(offset):
        return None  # malformed: SimpleITK refuses it with its own error
    voxels = math.prod(max(1, d) for d in dims[1 : n_dims + 1])
    return int(offset) + math.ceil(voxels * bitpix / 8)


def _check_nifti(path: str, quick: bool) -> None:
    compressed = _is_gzip(path)
    try:
        with (gzip.open if compressed else open)(path, "rb") as f:
            header = f.read(540)
    except (EOFError, OSError, zlib.error) as error:
        raise InputError(f"truncated or corrupt gzip data ({error})", path) from None
    declared = nifti_declared_bytes(header)
    if declared is None:
        return
    if not compressed:
        present = os.path.getsize(path)
    elif quick and _gzip_trailer_size(path) == declared % 2**32:
        return
    else:
        with gzip.open(path, "rb") as f:
            present = _stream_length(f, path)
    if present < declared:
        raise _short(path, declared, present)


NIFTI_FLOAT_TYPES = {16: "f4", 64: "f8"}  # NIfTI datatype codes of float32 and float64


def nifti_nonfinite_voxels(path: str) -> int:
    """NaN/Inf voxels stored in a float NIfTI-1 file (0 for other types and NIfTI-2). ITK's NIfTI
    reader turns NaN into 0 without a word, so garbage would otherwise reach the model."""
    compressed = _is_gzip(path)
    with (gzip.open if compressed else open)(path, "rb") as f:
        data = f.read()
    for endian in "<>":
        if len(data) >= 348 and struct.unpack(endian + "i", data[:4])[0] == 348:
            kind = NIFTI_FLOAT_TYPES.get(struct.unpack(endian + "h", data[70:72])[0])
            offset = int(struct.unpack(endian + "f", data[108:112])[0])
            if kind is None or not 0 <= offset < len(data):
                return 0
            end = offset + (len(data) - offset) // int(kind[1]) * int(kind[1])
            voxels = np.frombuffer(data[offset:end], dtype=endian + kind)
            return int(voxels.size - np.count_nonzero(np.isfinite(voxels)))
    return 0


# ---------------------------------------------------------------------------------------------
# NRRD


def _type_bytes(kind: str) -> int | None:
    kind = kind.replace("unsigned", "").replace("signed", "").strip()
    if "char" in kind or "int8" in kind:
        return 1
    if "short" in kind or "int16" in kind:
        return 2
    if "longlong" in kind.replace(" ", "") or "int64" in kind or kind == "double":
        return 8
    if kind in ("int", "int32", "int32_t", "uint", "uint32", "uint32_t", "float"):
        return 4
    return None  # "block" and the like: nothing we can size


def _nrrd_header(path: str) -> tuple[dict[str, str], int]:
    """The fields of an NRRD header and the offset where its attached data begins."""
    with open(path, "rb") as f:
        head = f.read(NRRD_HEADER_LIMIT)
    end = head.find(b"\n\n")
    end = len(head) if end < 0 else end + 2
    fields = {}
    for line in head[:end].decode("latin-1").splitlines()[1:]:
        key, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            fields[key.strip().lower()] = value.lstrip("=").strip()
    return fields, end


def _nrrd_declared_bytes(fields: dict[str, str]) -> int | None:
    item = _type_bytes(fields.get("type", ""))
    try:
        sizes = [int(v) for v in fields.get("sizes", "").split()]
    except ValueError:
        return None
    return math.prod(sizes) * item if item and sizes else None


def _check_nrrd(path: str, quick: bool) -> None:
    fields, offset = _nrrd_header(path)
    encoding = fields.get("encoding", "raw").lower()
    data_file = fields.get("data file") or fields.get("datafile")
    if data_file and (" " in data_file or data_file.upper().startswith("LIST")):
        return  # a list or pattern of data files: beyond this check
    source = str(Path(path).parent / data_file) if data_file else path
    declared = _nrrd_declared_bytes(fields)
    if not os.path.isfile(source) or declared is None or fields.get("byte skip", "0") != "0":
        return  # SimpleITK says the data file is missing; or a layout beyond this check
    start = 0 if data_file else offset
    if encoding == "raw":
        present = os.path.getsize(source) - start
    elif encoding in ("gzip", "gz", "bzip2", "bz2"):
        gzipped = encoding.startswith("gz")
        if quick and (not gzipped or _gzip_trailer_size(source) == declared % 2**32):
            return
        with open(source, "rb") as raw:
            raw.seek(start)
            stream = gzip.GzipFile(fileobj=raw) if gzipped else bz2.BZ2File(raw)
            present = _stream_length(stream, path, "gzip" if gzipped else "bzip2")
    else:
        return  # ascii / hex: SimpleITK parses and checks those
    if present < declared:
        raise _short(path, declared, present)
