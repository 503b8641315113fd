"""Screenshot of the PACS panel for the README (offscreen grab), against a real Orthanc.

    .venv/bin/python docs/screenshots/pacs_panel.py [--cq500 PATH]

Starts Orthanc with the tests' `OrthancServer`, loads the CQ500 folder and a synthetic phantom
study, searches every study, expands the CQ500 study to its series, retrieves it, and writes
pacs_panel.png beside this script. Patients shown: CQ500's anonymised IDs and a synthetic one.
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
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Orthanc test server
CQ500 = ROOT.parent / "shared" / "data" / "dicom" / "cq500_head_jpegls_tilt"


def wait(app, done, timeout_s: float = 120.0) -> None:
    start = time.perf_counter()
    while not done() and time.perf_counter() - start < timeout_s:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):  # let pending paints land
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cq500", type=Path, default=CQ500)
    args = parser.parse_args()
    import keyring
    from orthanc_fixture import (
        MemoryKeyring,
        OrthancServer,
        configure_nodes,
        write_phantom_study,
    )
    from PySide6.QtWidgets import QApplication

    from ctviewer.ui.pacs_panel import PacsPanel

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="pacs_shot_") as tmp:
        work = Path(tmp)
        os.environ["CTVIEWER_HOME"] = str(work / "home")
        keyring.set_keyring(MemoryKeyring())
        with OrthancServer(work / "orthanc") as server:
            server.upload(sorted(args.cq500.glob("*.dcm")))
            server.upload(write_phantom_study(work / "phantom"))
            panel = PacsPanel(configure_nodes(server))
            panel.resize(900, 640)
            panel.show()
            ended: list[str] = []
            panel.jobEnded.connect(lambda job, state: ended.append(f"{job} {state}"))
            panel.node.setCurrentText("web")
            panel.modality.setCurrentText("CT")
            panel.search()
            wait(app, lambda: ended)
            study = next(
                panel.tree.topLevelItem(i)
                for i in range(panel.tree.topLevelItemCount())
                if panel.tree.topLevelItem(i).text(1) == "CQ500-CT-0"
            )
            panel.tree.setCurrentItem(study)
            study.setExpanded(True)
            wait(app, lambda: study.childCount() > 0)
            panel.retrieve()
            wait(app, lambda: len(ended) >= 2)
            print(ended, panel.status.text())
            panel.grab().save(str(HERE / "pacs_panel.png"))
            panel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
