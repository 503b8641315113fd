"""Helpers every CLI command shares: a progress line on stderr and JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any


class ProgressLine:
    """A `ProgressFn` that redraws one line on stderr: `[ 42%] message`."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, fraction: float, message: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r[{fraction * 100:4.0f}%] {message[:70]:<70}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
