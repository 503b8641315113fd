"""PACS retrieve speed against a real Orthanc: the whole CQ500 folder (239 instances: the 238-slice
study CQ500-CT-0 and the one-slice study CQ500-CT-1) over WADO-RS, C-GET and C-MOVE, beside
Orthanc's own archive download (`GET /studies/{id}/archive`, a ZIP) in the same run; then the
time from "Retrieve" in the PACS panel to the first image on screen.

    .venv/bin/python benchmarks/bench_pacs.py [--data ../shared/data/dicom/cq500_head_jpegls_tilt]
        [--repeat 3] [--json FILE]

Orthanc 1.10 with its DICOMweb plugin (Debian `orthanc orthanc-dicomweb`) is started on 127.0.0.1
by the tests' `OrthancServer`. Methods alternate within each repeat; medians of wall seconds;
MB/s is megabytes written (DICOM files, or the ZIP) per second. Everything is on one machine, so
these measure the protocols' and the libraries' overheads, not a network.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Orthanc test server
CQ500 = ROOT.parent / "shared" / "data" / "dicom" / "cq500_head_jpegls_tilt"


def archive_download(server, study_ids: list[str], out: Path) -> tuple[int, int]:
    """Orthanc's ZIP of each study → (bytes, instances: unknown inside a ZIP, so 0)."""
    import requests

    total = 0
    with requests.Session() as session:
        session.auth = server.auth
        for study_id in study_ids:
            path = out / f"{study_id}.zip"
            with session.get(f"{server.url}/studies/{study_id}/archive", stream=True) as reply:
                reply.raise_for_status()
                with path.open("wb") as stream:
                    for chunk in reply.iter_content(1 << 20):
                        stream.write(chunk)
            total += path.stat().st_size
    return total, 0


def ours(node, studies: list[str], local, out: Path) -> tuple[int, int]:
    from ctviewer.pacs.retrieve import retrieve

    size = count = 0
    for uid in studies:
        result = retrieve(node, uid, out / uid, local=local)
        size, count = size + result.bytes, count + result.instances
    return size, count


def wait(app, done, timeout_s: float = 300.0) -> None:
    start = time.perf_counter()
    while not done() and time.perf_counter() - start < timeout_s:
        app.processEvents()
        time.sleep(0.002)


def first_image_seconds(config, patient_id: str) -> float:
    """PACS panel "Retrieve" (empty cache) → the main window's first image (`previewShown` or
    `volumeShown`): the study's one series is complete, opened, its middle image decoded."""
    from PySide6.QtWidgets import QApplication

    from ctviewer.ui.main_window import MainWindow
    from ctviewer.ui.pacs_panel import PacsPanel

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.auto_run_action.setChecked(False)
    panel = PacsPanel(config)
    panel.openRequested.connect(window.open_path)
    window.show()
    shown: list[float] = []
    window.previewShown.connect(lambda: shown.append(time.perf_counter()))
    window.volumeShown.connect(lambda: shown.append(time.perf_counter()))
    panel.node.setCurrentText("web")
    panel.patient_id.setText(patient_id)
    ended: list[str] = []
    panel.jobEnded.connect(lambda job, state: ended.append(state))
    panel.search()
    wait(app, lambda: ended)
    start = time.perf_counter()
    panel.retrieve()
    wait(app, lambda: shown)
    wait(app, lambda: len(ended) >= 2)  # the retrieve's end too (caching), before the next repeat
    window.cancel_jobs()
    window.close()
    if not shown:
        raise TimeoutError("no image within 300 s")
    return shown[0] - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=CQ500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the medians here")
    args = parser.parse_args()

    import keyring
    import pydicom
    from orthanc_fixture import MemoryKeyring, OrthancServer, configure_nodes, orthanc_missing

    if orthanc_missing():
        print(orthanc_missing(), file=sys.stderr)
        return 1
    files = sorted(args.data.glob("*.dcm"))
    with tempfile.TemporaryDirectory(prefix="bench_pacs_") as tmp:
        work = Path(tmp)
        os.environ["CTVIEWER_HOME"] = str(work / "home")
        keyring.set_keyring(MemoryKeyring())
        with OrthancServer(work / "orthanc") as server:
            server.upload(files)
            config = configure_nodes(server)
            local = config.local()
            headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
            study_uids = sorted({str(ds.StudyInstanceUID) for ds in headers})
            patient_ids = [str(ds.PatientID) for ds in headers]
            main_patient = max(set(patient_ids), key=patient_ids.count)  # the 238-slice study
            study_ids = [server.study_orthanc_id(uid) for uid in study_uids]
            methods = {
                "WADO-RS (dicomweb-client)": lambda out: ours(
                    config.resolve("web"), study_uids, local, out
                ),
                "C-GET (pynetdicom)": lambda out: ours(
                    config.resolve("dimse"), study_uids, local, out
                ),
                "C-MOVE to our SCP": lambda out: ours(
                    config.resolve("move"), study_uids, local, out
                ),
                "Orthanc archive (ZIP)": lambda out: archive_download(server, study_ids, out),
            }
            runs: dict[str, list[tuple[float, int, int]]] = {name: [] for name in methods}
            for repeat in range(args.repeat):
                for name, method in methods.items():
                    out = work / f"out_{repeat}_{len(runs[name])}_{abs(hash(name))}"
                    out.mkdir()
                    start = time.perf_counter()
                    size, count = method(out)
                    runs[name].append((time.perf_counter() - start, size, count))
            first = []
            for repeat in range(args.repeat):
                os.environ["CTVIEWER_HOME"] = str(work / f"home_first_{repeat}")  # empty cache
                first.append(first_image_seconds(configure_nodes(server), main_patient))
    print(f"{len(files)} files, {args.repeat} repeats, load average {os.getloadavg()[0]:.2f}")
    print(f"{'method':<28} {'seconds':>8} {'MB':>7} {'MB/s':>7} {'instances':>9}")
    medians = {}
    for name, values in runs.items():
        seconds = statistics.median(v[0] for v in values)
        size, count = values[0][1], values[0][2]
        medians[name] = {"seconds": round(seconds, 3), "MB": round(size / 1e6, 2)}
        medians[name]["MB_per_s"] = round(size / 1e6 / seconds, 1)
        medians[name]["instances"] = count
        shown_count = count if count else "(zip)"
        print(
            f"{name:<28} {seconds:8.2f} {size / 1e6:7.1f} {size / 1e6 / seconds:7.1f} "
            f"{shown_count:>9}"
        )
    first_s = statistics.median(first)
    medians["panel_retrieve_to_first_image_s"] = round(first_s, 3)
    print(f"PACS panel Retrieve → first image (238-slice study, WADO-RS): {first_s:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(medians, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
