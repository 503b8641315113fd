#!/usr/bin/env bash
# Start the frozen app under Xvfb exactly as the desktop entry would ("Open with" on the demo
# study's folder) and take a screenshot once the analysis has had time to finish.
#
#   packaging/screenshot_frozen.sh [OUT.png] [SECONDS] [--welcome]
#
# --welcome starts it as a menu click does (no file): the welcome screen.
# Needs: Xvfb, xdotool, ImageMagick (`apt-get install xvfb xdotool imagemagick`) and the bundle
# (packaging/build.sh). Uses a throw-away CTVIEWER_HOME, so no user data is touched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/docs/screenshots/frozen_app.png}")"
WAIT="${2:-40}"
WELCOME="${3:-}"
APP="$ROOT/dist/ctviewer/ctviewer"
WORK="$(mktemp -d)"
trap 'kill "${APP_PID:-}" "${XVFB_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

export CTVIEWER_HOME="$WORK/home" XDG_DATA_HOME="$WORK/share" XDG_CONFIG_HOME="$WORK/config"
bash "$ROOT/packaging/install_desktop_entry.sh" "$APP" >/dev/null
# The demo study (the same one the app's "Try the demo study" makes).
DEMO="$("$ROOT/.venv/bin/python" -c \
    'from ctviewer.synth.demo import ensure_demo_study; print(ensure_demo_study())')"

DISPLAY_NUMBER=:97
Xvfb "$DISPLAY_NUMBER" -screen 0 1440x900x24 -nolisten tcp &
XVFB_PID=$!
sleep 2
export DISPLAY="$DISPLAY_NUMBER"

# The Exec line of the installed entry, with %f replaced by the demo folder.
EXEC_LINE="$(sed -n 's/^Exec=//p' "$XDG_DATA_HOME/applications/ctviewer.desktop")"
if [[ "$WELCOME" == "--welcome" ]]; then
    eval "set -- ${EXEC_LINE//%f/}"
else
    eval "set -- ${EXEC_LINE//%f/\"$DEMO\"}"
fi
echo "starting: $*"
(cd "$WORK" && env -i HOME="$WORK" PATH=/usr/bin:/bin DISPLAY="$DISPLAY" \
    CTVIEWER_HOME="$CTVIEWER_HOME" XDG_CONFIG_HOME="$XDG_CONFIG_HOME" "$@") &
APP_PID=$!
sleep "$WAIT"
xdotool search --name ctviewer | head -1 | xargs -r -I{} xdotool windowsize {} 1440 900 || true
sleep 2
mkdir -p "$(dirname "$OUT")"
import -window root "$OUT"
echo "screenshot: $OUT"
