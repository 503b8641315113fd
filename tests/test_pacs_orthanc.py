"""The PACS CLI and core against a real Orthanc (DICOMweb and DIMSE): find, get, C-MOVE to our
SCP, send of our exports, the cache, and the errors a user meets (401, dead node, cancel)."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
from pathlib import Path

import pydicom
import pytest
from orthanc_fixture import (
    PASSWORD,
    PHANTOM_ID,
    PHANTOM_NAME,
    SUBSET,
    USER,
    PacsSetup,
    configure_nodes,
    export_results,
    free_port,
    structured_report,
    write_phantom_study,
)

from ctviewer.cli.main import main
from ctviewer.errors import Cancelled
from ctviewer.io import load_volume
from ctviewer.pacs.config import PacsConfig
from ctviewer.pacs.credentials import store_secret
from ctviewer.pacs.records import StudyQuery
from ctviewer.pacs.retrieve import find_series, retrieve, retrieve_to_cache
from ctviewer.progress import new_cancel_flag

pytestmark = pytest.mark.shared_data
NODES = ("web", "dimse")


def run_json(capsys, *argv: str):
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def one_line_error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("ctviewer: error:") and "\n" not in err and "Traceback" not in err
    return err


def study_of(capsys, node: str, patient_id: str) -> dict:
    (study,) = run_json(capsys, "pacs", "find", node, "--patient-id", patient_id)
    return study


@pytest.mark.parametrize("node", NODES)
def test_echo(pacs: PacsSetup, node: str, capsys) -> None:
    assert main(["pacs", "echo", node]) == 0
    assert "answered" in capsys.readouterr().out


def test_find_gives_the_same_studies_over_both_protocols(pacs: PacsSetup, capsys) -> None:
    found = {node: run_json(capsys, "pacs", "find", node) for node in NODES}
    for studies in found.values():
        by_id = {s["PatientID"]: s for s in studies}
        assert {"CQ500-CT-0", "CQ500-CT-1", PHANTOM_ID} <= set(by_id)
        for study in studies:
            assert {
                "StudyInstanceUID",
                "PatientID",
                "PatientName",
                "StudyDate",
                "StudyDescription",
                "ModalitiesInStudy",
                "NumberOfStudyRelatedInstances",
            } <= set(study)
        assert by_id["CQ500-CT-0"]["NumberOfStudyRelatedInstances"] == SUBSET
        assert by_id["CQ500-CT-1"]["NumberOfStudyRelatedInstances"] == 1
        assert by_id[PHANTOM_ID]["PatientName"] == PHANTOM_NAME
        assert by_id[PHANTOM_ID]["ModalitiesInStudy"] == ["CT"]
    # studies other tests sent our exports to are left out: Orthanc's own C-FIND and QIDO-RS
    # then disagree on their study description (our SEG carries none)
    ours = {"CQ500-CT-0", "CQ500-CT-1", PHANTOM_ID}
    web, dimse = ([s for s in found[n] if s["PatientID"] in ours] for n in NODES)
    assert sorted(web, key=str) == sorted(dimse, key=str)


@pytest.mark.parametrize("node", NODES)
def test_find_filters(pacs: PacsSetup, node: str, capsys) -> None:
    phantom = study_of(capsys, node, PHANTOM_ID)
    date, accession = phantom["StudyDate"], phantom["AccessionNumber"]
    assert len(date) == 8 and accession

    def uids(*options: str) -> set[str]:
        return {s["StudyInstanceUID"] for s in run_json(capsys, "pacs", "find", node, *options)}

    uid = phantom["StudyInstanceUID"]
    assert uids("--patient-name", "DOE") == {uid}  # a prefix
    assert uids("--patient-name", "cq500-ct-?") == uids("--patient-id", "CQ500-CT-*")
    assert len(uids("--patient-name", "CQ500*")) == 2
    assert uids("--accession", accession) == {uid}
    assert uid in uids("--study-date", f"{date}-{date}")
    assert uids("--study-date", "19000101-19000102") == set()
    assert uid in uids("--modality", "CT")
    assert uids("--modality", "MR") == set()


def dicom_files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("how", [["web"], ["dimse"], ["dimse", "--move"]])
def test_get_brings_every_instance_unchanged(
    pacs: PacsSetup, how: list[str], shared_data: Path, tmp_path: Path, capsys
) -> None:
    study = study_of(capsys, "web", "CQ500-CT-0")
    out = tmp_path / "out"
    assert main(["pacs", "get", *how, study["StudyInstanceUID"], "--out", str(out)]) == 0
    assert f"{SUBSET} instances in 1 series" in capsys.readouterr().out
    files = dicom_files_under(out)
    assert len(files) == SUBSET and all(f.suffix == ".dcm" for f in files)
    sources = {
        ds.SOPInstanceUID: ds
        for ds in map(pydicom.dcmread, sorted((shared_data / "dicom").glob("cq500*/*.dcm")))
    }
    for path in files:
        got = pydicom.dcmread(path)
        original = sources[got.SOPInstanceUID]
        assert got.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert got.PixelData == original.PixelData  # as stored: not transcoded


@pytest.mark.parametrize("node", NODES)
def test_get_one_series(pacs: PacsSetup, node: str, tmp_path: Path, capsys) -> None:
    study = study_of(capsys, node, PHANTOM_ID)["StudyInstanceUID"]
    (series,) = find_series(pacs.config.resolve(node), study, pacs.config.local())
    out = tmp_path / "series"
    argv = ["pacs", "get", node, study, "--series", series.SeriesInstanceUID, "--out", str(out)]
    assert main(argv) == 0
    assert len(dicom_files_under(out)) == series.NumberOfSeriesRelatedInstances == 16
    assert "no such series" in one_line_error(
        capsys, "pacs", "get", node, study, "--series", "1.2.3", "--out", str(out)
    )


def test_wrong_password_is_one_line_and_not_echoed(pacs: PacsSetup, capsys) -> None:
    pacs.config.add("intruder", pacs.server.dicomweb_url, user=USER)
    store_secret("intruder", "wrong-password")
    pacs.config.add("bearer", pacs.server.dicomweb_url, auth="bearer")  # Orthanc wants basic
    store_secret("bearer", "a-token")
    for argv in (["find", "intruder"], ["echo", "intruder"], ["find", "bearer"]):
        err = one_line_error(capsys, "pacs", *argv)
        assert "authentication failed (HTTP 401)" in err
        assert "wrong-password" not in err and PASSWORD not in err and "a-token" not in err


def test_tls_certificates_are_verified(https_dicomweb, memory_keyring, capsys) -> None:
    url, ca = https_dicomweb
    config = PacsConfig()
    config.add("self-signed", url)
    config.add("trusted", url, ca_bundle=str(ca))
    assert "self-signed: TLS certificate verification failed" in one_line_error(
        capsys, "pacs", "echo", "self-signed"
    )
    assert main(["pacs", "echo", "trusted"]) == 0  # verified against the given CA
    assert "trusted: answered" in capsys.readouterr().out
    assert run_json(capsys, "pacs", "find", "trusted") == []


def test_dead_nodes_and_a_wrong_ae_title_are_one_line(pacs: PacsSetup, capsys) -> None:
    port = free_port()  # nobody listens there
    for url in (f"http://127.0.0.1:{port}/dicom-web", f"dicom://PACS@127.0.0.1:{port}"):
        assert f"cannot connect to 127.0.0.1:{port}" in one_line_error(capsys, "pacs", "find", url)
    wrong_aet = f"dicom://NOT_ORTHANC@127.0.0.1:{pacs.server.dicom_port}"
    assert "association rejected" in one_line_error(capsys, "pacs", "echo", wrong_aet)


def test_a_node_that_never_answers_times_out_in_one_line(pacs: PacsSetup, capsys) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        pacs.config.add("silent-web", f"http://127.0.0.1:{port}/dicom-web", timeout_s=1)
        pacs.config.add("silent-dimse", f"dicom://PACS@127.0.0.1:{port}", timeout_s=1)
        assert "silent-web: no answer within 1 s" in one_line_error(
            capsys, "pacs", "echo", "silent-web"
        )
        assert "no answer within 1 s" in one_line_error(capsys, "pacs", "echo", "silent-dimse")


@pytest.mark.parametrize("node", [*NODES, "move"])
def test_cancel_mid_retrieve_keeps_nothing_half_received(
    pacs: PacsSetup, node: str, tmp_path: Path
) -> None:
    cancel = new_cancel_flag()
    seen: list[float] = []

    def progress(fraction: float, message: str) -> None:
        seen.append(fraction)
        if len(seen) == 4:  # the start, then 3 images received
            cancel.set()

    study = [
        s
        for s in _find(pacs, "web", StudyQuery(patient_id="CQ500-CT-0"))
        if s.PatientID == "CQ500-CT-0"
    ][0]
    out = tmp_path / "cancelled"
    with pytest.raises(Cancelled):
        retrieve(
            pacs.config.resolve(node),
            study.StudyInstanceUID,
            out,
            local=pacs.config.local(),
            progress=progress,
            cancel=cancel,
        )
    assert 0 < seen[-1] < 1
    assert dicom_files_under(out) == []  # the series being received was removed


def _find(pacs: PacsSetup, node: str, query: StudyQuery):
    from ctviewer.pacs.retrieve import find_studies

    return find_studies(pacs.config.resolve(node), query, pacs.config.local())


def test_cache_retrieves_once_then_serves_and_evicts(pacs: PacsSetup) -> None:
    node = pacs.config.resolve("web")
    phantom, stray = (
        _find(pacs, "web", StudyQuery(patient_id=pid))[0] for pid in (PHANTOM_ID, "CQ500-CT-1")
    )
    opened: list[Path] = []
    first = retrieve_to_cache(node, phantom.StudyInstanceUID, pacs.config, on_series=opened.append)
    assert not first.from_cache and first.instances == 16 and opened == first.series
    again = retrieve_to_cache(node, phantom.StudyInstanceUID, pacs.config)
    assert again.from_cache and again.folder == first.folder
    assert len(dicom_files_under(first.folder / first.series[0].name)) == 16
    pacs.config.set_local(dataclasses.replace(pacs.config.local(), cache_mb=0))
    other = retrieve_to_cache(node, stray.StudyInstanceUID, pacs.config)
    assert other.instances == 1
    assert not first.folder.exists() and other.folder.is_dir()  # least recently used went


def test_send_our_exports_back_to_the_study(pacs: PacsSetup, tmp_path: Path, capsys) -> None:
    """A study comes from the PACS, is analysed, and its SEG and key images go back there
    (SEG over DICOMweb, key images and an SR over DIMSE)."""
    pacs.server.upload(write_phantom_study(tmp_path / "upload", "PID-SEND", 8, "SEND^TEST"))
    study = study_of(capsys, "web", "PID-SEND")["StudyInstanceUID"]
    assert main(["pacs", "get", "dimse", study, "--out", str(tmp_path / "in")]) == 0
    exported = export_results(tmp_path / "in", tmp_path / "exports")
    sr = structured_report(next((tmp_path / "in").iterdir()), tmp_path / "sr")
    assert main(["pacs", "send", "web", str(exported.segmentation)]) == 0
    assert main(["pacs", "send", "dimse", *map(str, [*exported.key_images, sr])]) == 0
    assert f"{len(exported.key_images) + 1} files sent" in capsys.readouterr().out
    series = find_series(pacs.config.resolve("dimse"), study, pacs.config.local())
    key_modality = pydicom.dcmread(exported.key_images[0]).Modality
    assert sorted(s.Modality for s in series) == sorted(["CT", "SEG", "SR", key_modality])
    sent = 1 + len(exported.key_images) + 1
    assert study_of(capsys, "dimse", "PID-SEND")["NumberOfStudyRelatedInstances"] == 16 + sent


def test_nothing_of_the_patient_in_logs(pacs: PacsSetup, tmp_path: Path, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    for node in NODES:
        study = study_of(capsys, node, PHANTOM_ID)["StudyInstanceUID"]
        assert main(["pacs", "find", node, "--patient-name", "DOE"]) == 0
        assert main(["pacs", "get", node, study, "--out", str(tmp_path / node)]) == 0
        assert main(["pacs", "send", node, str(tmp_path / node)]) == 0
        capsys.readouterr()
    assert "retrieved 16 instances" in caplog.text  # the log is there, with counts only
    for secret in ("DOE", "JANE", PHANTOM_ID, PASSWORD, study):
        assert secret not in caplog.text


def test_whole_study_over_both_protocols(orthanc_full, memory_keyring, tmp_path, capsys) -> None:
    configure_nodes(orthanc_full)
    study = study_of(capsys, "web", "CQ500-CT-0")
    assert study["NumberOfStudyRelatedInstances"] == 238
    for node in ("web", "dimse"):
        out = tmp_path / node
        assert main(["pacs", "get", node, study["StudyInstanceUID"], "--out", str(out)]) == 0
        assert len(dicom_files_under(out)) == 238
    volume = load_volume(out)
    assert volume.n_slices == 238
