#!/usr/bin/env bash
# Put ctviewer into the user's applications menu: desktop entry, icons, MIME types ("Open with").
#
#   packaging/install_desktop_entry.sh [APP]      APP: the ctviewer executable to start
#                                                 (default: dist/ctviewer/ctviewer, the frozen app;
#                                                 .venv/bin/ctviewer works too)
#   packaging/install_desktop_entry.sh --uninstall
#
# Installs under ${XDG_DATA_HOME:-~/.local/share}; needs no root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
SIZES=(16 24 32 48 64 128 256)
DESKTOP="$DATA/applications/ctviewer.desktop"

refresh() {
    if command -v update-mime-database >/dev/null; then update-mime-database "$DATA/mime"; fi
    if command -v update-desktop-database >/dev/null; then
        update-desktop-database "$DATA/applications"
    fi
    if command -v gtk-update-icon-cache >/dev/null; then
        gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
    fi
}

if [[ "${1:-}" == "--uninstall" ]]; then
    rm -f "$DESKTOP" "$DATA/mime/packages/ctviewer.xml" "$DATA/icons/hicolor/scalable/apps/ctviewer.svg"
    for size in "${SIZES[@]}"; do rm -f "$DATA/icons/hicolor/${size}x${size}/apps/ctviewer.png"; done
    refresh
    echo "removed ctviewer from the applications menu"
    exit 0
fi

APP="$(realpath "${1:-$ROOT/dist/ctviewer/ctviewer}")"
if [[ ! -x "$APP" ]]; then
    echo "install_desktop_entry.sh: $APP is not an executable (build it with packaging/build.sh)" >&2
    exit 1
fi
if [[ "$APP" =~ [\"\`\$\\%] ]]; then
    echo "install_desktop_entry.sh: $APP has characters a desktop entry cannot quote" >&2
    exit 1
fi

for size in "${SIZES[@]}"; do
    install -Dm644 "$ROOT/resources/icons/ctviewer_${size}.png" \
        "$DATA/icons/hicolor/${size}x${size}/apps/ctviewer.png"
done
install -Dm644 "$ROOT/resources/icons/ctviewer.svg" "$DATA/icons/hicolor/scalable/apps/ctviewer.svg"
install -Dm644 "$ROOT/packaging/ctviewer-mime.xml" "$DATA/mime/packages/ctviewer.xml"
mkdir -p "$DATA/applications"
sed -e "s|@EXEC@|$APP|g" "$ROOT/packaging/ctviewer.desktop" >"$DESKTOP"
chmod 644 "$DESKTOP"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$DESKTOP"; fi
refresh
echo "installed $DESKTOP (starts $APP)"
