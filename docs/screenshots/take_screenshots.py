"""Screenshots of the real viewer for the README (offscreen Qt grab of the main window).

    .venv/bin/python docs/screenshots/take_screenshots.py [--model M] [--cq500 PATH]

Writes welcome.png, demo.png (demo study, analysis with overlay and findings), cq500.png
(real head CT from ../shared/data, brain window) and the reading-room tools beside this script:
tools_measure.png (length, ellipse and rectangle ROI, ROI window, corner text),
tools_finding.png (a finding selected while zoomed in: centred at its peak in every view),
tools_deidentified.png (de-identified display), tools_oblique.png (oblique MPR turned 35°),
tools_presets.png (a user preset on key 7), tools_bindings.png (Help → Keyboard and mouse).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
CQ500 = HERE.parents[2] / "shared" / "data" / "dicom" / "cq500_head_jpegls_tilt"
SIZE = (1500, 920)


def wait(app, flag: list, timeout: float = 300.0) -> None:
    start = time.perf_counter()
    while not flag and time.perf_counter() - start < timeout:
        app.processEvents()
        time.sleep(0.01)
    if not flag:
        raise TimeoutError("the viewer did not get there in time")
    for _ in range(30):  # let pending paints and thumbnails land
        app.processEvents()
        time.sleep(0.02)


def window(model: str | None):
    from ctviewer.ui.main_window import MainWindow

    w = MainWindow(model_path=model)
    w.resize(*SIZE)
    w.findings.reviewer.setText("Dr Demo")
    w.show()
    return w


def analysed_demo(app, model: str | None):
    """A window showing the demo study with its analysis."""
    w = window(model)
    shown: list = []
    w.resultShown.connect(lambda: shown.append(1))
    w.open_demo()
    wait(app, shown)
    return w


def shot_welcome(app, model: str | None, cq500: Path) -> None:
    w = window(model)
    w.settings.add_recent(str(cq500))
    w.show_welcome()
    wait(app, [1])
    w.grab().save(str(HERE / "welcome.png"))
    w.close()


def shot_demo(app, model: str | None) -> None:
    """The demo study analysed, the strongest finding selected and accepted, lung window."""
    from ctviewer.presets import get_preset

    w = analysed_demo(app, model)
    result = w.result
    if result.findings:
        top = max(result.findings, key=lambda f: f.peak)
        w.findings.select_finding(top.id)
        w.record_decision("accept", top)
    w.apply_preset(get_preset("lung"))
    wait(app, [1])
    w.grab().save(str(HERE / "demo.png"))
    print(
        f"demo: {len(result.findings)} findings, score {result.score:.4g} / {result.threshold:.4g}"
    )
    w.close()


def shot_cq500(app, model: str | None, cq500: Path) -> None:
    """The real CQ500 head CT (238 slices, tilt, missing slice), brain window, no analysis."""
    from ctviewer.presets import get_preset

    c = window(model)
    c.auto_run_action.setChecked(False)
    loaded: list = []
    c.volumeShown.connect(lambda: loaded.append(1))
    c.open_path(str(cq500))
    wait(app, loaded)
    c.apply_preset(get_preset("brain"))
    c.views["axial"].set_index(140)
    wait(app, [1])
    c.grab().save(str(HERE / "cq500.png"))
    c.close()


def shot_tools(app, model: str | None) -> None:
    """Each reading-room tool on the demo study (a synthetic chest CT with its analysis)."""
    from ctviewer.measurement import Measurement

    w = analysed_demo(app, model)
    m = w.model
    z = m.index_of("axial")
    m.add_measurement(Measurement("length", z, ((48, 100), (184, 100)), label="AP diameter"))
    ellipse = m.add_measurement(Measurement("ellipse", z, ((84, 120), (102, 150))))
    m.add_measurement(Measurement("rectangle", z, ((92, 64), (118, 92))))
    w.overlay_action.setChecked(False)
    w.set_overlay_visible(False)
    w.measurements.select(ellipse.id)
    w.roi_window()
    wait(app, [1])
    w.grab().save(str(HERE / "tools_measure.png"))
    w.set_overlay_visible(True)
    w.model.reset_window()
    for measurement in list(m.measurements):
        m.remove_measurement(measurement.id)
    if w.result.findings:
        for view in w.views.values():
            view.viewbox.scaleBy(s=(0.3, 0.3))  # zoomed in on the centre
        w.findings.select_finding(max(w.result.findings, key=lambda f: f.peak).id)
        wait(app, [1])
        w.grab().save(str(HERE / "tools_finding.png"))
    w.set_deidentified(True)
    wait(app, [1])
    w.grab().save(str(HERE / "tools_deidentified.png"))
    w.reset_view()
    w.set_oblique(True)
    w.model.turn_oblique(35.0)
    wait(app, [1])
    w.grab().save(str(HERE / "tools_oblique.png"))
    w.set_oblique(False)
    w.set_deidentified(False)
    w.set_window((-500.0, 1200.0))
    w.presets.add_current("My lung")
    wait(app, [1])
    w.grab().save(str(HERE / "tools_presets.png"))
    w.show_bindings()
    wait(app, [1])
    w.bindings_dialog.grab().save(str(HERE / "tools_bindings.png"))
    w.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model checkpoint (default: the active model)")
    parser.add_argument("--cq500", type=Path, default=CQ500)
    parser.add_argument("--only", choices=("welcome", "demo", "cq500", "tools"), action="append")
    args = parser.parse_args()
    os.environ.setdefault("CTVIEWER_HOME", tempfile.mkdtemp(prefix="ctviewer-shots-"))
    from ctviewer.ui.app import create_app

    app = create_app()
    todo = args.only or ["welcome", "demo", "cq500", "tools"]
    if "welcome" in todo:
        shot_welcome(app, args.model, args.cq500)
    if "demo" in todo:
        shot_demo(app, args.model)
    if "cq500" in todo and args.cq500.is_dir():
        shot_cq500(app, args.model, args.cq500)
    if "tools" in todo:
        shot_tools(app, args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
