#!/usr/bin/env bash
# Build the self-contained desktop app: dist/ctviewer/ctviewer (one folder, Linux).
#
# Works from a clean checkout: `python3 run.py` creates .venv with the pinned dependencies, then
# PyInstaller (the `package` extra, pinned in constraints.txt) freezes the app and the bundle's own
# self-test runs from another directory, without the venv on PATH.
#
#   packaging/build.sh             build and self-test
#   CTVIEWER_FLAVOUR=cuda packaging/build.sh   keep CUDA libraries of a CUDA torch build
#   SKIP_SELF_TEST=1 packaging/build.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="$ROOT/.venv/bin/python"

python3 run.py ctviewer --version  # sets up .venv on first use (takes minutes)
"$PYTHON" -m pip install --disable-pip-version-check -q -c constraints.txt -e ".[package]"

start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/ctviewer.spec
end=$(date +%s)
echo "built dist/ctviewer in $((end - start)) s, size $(du -sh dist/ctviewer | cut -f1)"

if [[ -z "${SKIP_SELF_TEST:-}" ]]; then
    # From another directory, with a minimal environment: nothing from the venv or the checkout.
    (cd "$(mktemp -d)" && env -i HOME="$HOME" PATH=/usr/bin:/bin LANG=C.UTF-8 \
        QT_QPA_PLATFORM=offscreen "$ROOT/dist/ctviewer/ctviewer" --self-test)
fi
