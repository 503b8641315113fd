"""A small JPEG Lossless encoder (ITU T.81 process 14, first-order prediction, "SV1").

pydicom has decoders for this transfer syntax (pylibjpeg-libjpeg, GDCM) but no encoder; the
self-test and the tests need such files to prove the decoders are present, and must make them on
the fly (a frozen app has no test data). Images are small there, so clarity beats speed here.
"""

from __future__ import annotations

import struct

import numpy as np

# Code length of each difference category SSSS = 0 … 16 (a valid prefix code, Kraft sum < 1).
CODE_LENGTHS = (2, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)


def _canonical_codes(lengths: tuple[int, ...]) -> list[tuple[int, int]]:
    """(code, length) per symbol, assigned as a JPEG decoder rebuilds them from a DHT segment."""
    codes: list[tuple[int, int]] = [(0, 0)] * len(lengths)
    code = 0
    for length in range(1, 17):
        for symbol, symbol_length in enumerate(lengths):
            if symbol_length == length:
                codes[symbol] = (code, length)
                code += 1
        code <<= 1
    return codes


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def encode_jpeg_lossless(image: np.ndarray, precision: int = 16) -> bytes:
    """Encode a 2D unsigned (or two's-complement 16-bit) image as a JPEG Lossless SV1 stream."""
    if image.ndim != 2:
        raise ValueError("JPEG Lossless encoding needs a 2D image")
    modulus = 1 << precision
    samples = image.astype(np.int64) % modulus
    predicted = np.empty_like(samples)
    predicted[0, 0] = 1 << (precision - 1)
    predicted[0, 1:] = samples[0, :-1]  # first row: the pixel to the left
    predicted[1:, 0] = samples[:-1, 0]  # first column: the pixel above
    predicted[1:, 1:] = samples[1:, :-1]  # elsewhere: the pixel to the left (SV1)
    diffs = (samples - predicted) % modulus
    diffs = np.where(diffs >= modulus // 2, diffs - modulus, diffs).ravel()  # to -2^15 … 2^15-1

    codes = _canonical_codes(CODE_LENGTHS)
    bits, n_bits, out = 0, 0, bytearray()

    def put(value: int, length: int) -> None:
        nonlocal bits, n_bits
        bits = (bits << length) | (value & ((1 << length) - 1))
        n_bits += length
        while n_bits >= 8:
            n_bits -= 8
            byte = (bits >> n_bits) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0x00)  # byte stuffing
        bits &= (1 << n_bits) - 1

    for diff in diffs.tolist():
        category = int(abs(diff)).bit_length()
        code, length = codes[category]
        put(code, length)
        if 0 < category < 16:  # category 16 (diff = 32768) carries no extra bits
            put(diff if diff > 0 else diff - 1, category)
    if n_bits:
        put((1 << (8 - n_bits)) - 1, 8 - n_bits)  # pad with 1-bits

    rows, cols = image.shape
    counts = [sum(1 for n in CODE_LENGTHS if n == length) for length in range(1, 17)]
    order = sorted(range(len(CODE_LENGTHS)), key=lambda s: (CODE_LENGTHS[s], s))
    return b"".join(
        [
            b"\xff\xd8",  # SOI
            _segment(0xC3, struct.pack(">BHHB", precision, rows, cols, 1) + b"\x01\x11\x00"),
            _segment(0xC4, b"\x00" + bytes(counts) + bytes(order)),  # DC table 0
            _segment(0xDA, b"\x01\x01\x00" + b"\x01\x00\x00"),  # Ss = predictor 1, Pt = 0
            bytes(out),
            b"\xff\xd9",  # EOI
        ]
    )
