"""The model catalog: each series gets the model that fits it, or "not assessed" with the reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ctviewer import paths
from ctviewer.model.anatomy import guess_body_parts, header_body_parts
from ctviewer.model.catalog import Fits, ModelCatalog, add_model
from ctviewer.model.checkpoint import load_model, save_model
from ctviewer.pipeline import analyse, detect, load_inputs
from ctviewer.synth.phantom import make_phantom
from ctviewer.volume import Volume

CQ500 = "dicom/cq500_head_jpegls_tilt"


@pytest.fixture(scope="module")
def chest_model():
    return load_model(paths.default_model_path(), device="cpu")


@pytest.fixture(scope="module")
def head_ct(shared_data: Path) -> Volume:
    volumes = list(load_inputs([shared_data / CQ500]))
    return max(volumes, key=lambda v: v.n_slices)  # the 238-slice series, not the stray slice


def relabelled(model, tmp_path: Path, parts: tuple[str, ...], organ: str = "body") -> Path:
    """A copy of `model` that declares other body parts (and scores the whole body)."""
    path = tmp_path / f"{'_'.join(parts)}.pt"
    save_model(model, path)
    copy = load_model(path, device="cpu")
    copy.metadata["preprocessing"]["organ"] = organ
    copy.metadata["fits"] = Fits(kind="hu", body_parts=parts).to_json()
    copy.metadata["name"] = f"test-{'-'.join(parts)}"
    save_model(copy, path)
    return path


@pytest.mark.parametrize(
    ("meta", "parts"),
    [
        ({"BodyPartExamined": "HEAD"}, ("head",)),
        ({"SeriesDescription": "CT BRAIN W/O CONTRAST"}, ("head",)),
        ({"StudyDescription": "CT Schaedel nativ"}, ("head",)),
        ({"BodyPartExamined": "CHEST"}, ("chest",)),
        ({"ProtocolName": "Thorax 1.0 B70f"}, ("chest",)),
        ({"SeriesDescription": "CAP 5mm"}, ("chest", "abdomen")),
        ({"StudyDescription": "CT ABD/PELVIS W CONTRAST"}, ("abdomen",)),
        ({"SeriesDescription": "Body 1.5 mm", "BodyPartExamined": ""}, ()),
        ({"SeriesDescription": "HEADREST"}, ("head",)),
    ],
)
def test_body_part_from_header_words(meta: dict, parts: tuple[str, ...]) -> None:
    assert header_body_parts(meta) == parts


def test_chest_phantom_looks_like_a_chest() -> None:
    volume = make_phantom(shape=(24, 128, 128), seed=5).volume
    volume.meta = {}  # the image alone
    guess = guess_body_parts(volume)
    assert guess.parts[0] == "chest" and guess.source == "image"


def test_image_overrules_a_contradicting_header() -> None:
    volume = make_phantom(shape=(24, 128, 128), seed=5).volume
    volume.meta = {"BodyPartExamined": "HEAD"}
    assert guess_body_parts(volume).parts[0] == "chest"


def test_a_weak_image_contradiction_leaves_the_header() -> None:
    volume = make_phantom(shape=(24, 128, 128), seed=5).volume
    volume.array[8:] = -1000.0  # lungs on a third of the slices, nothing on the rest
    volume.meta = {"SeriesDescription": "STD BRAIN 5MM"}
    guess = guess_body_parts(volume)
    assert guess.parts == ("head",) and guess.source == "header (image unclear)"
    volume.meta = {}
    alone = guess_body_parts(volume)  # without a header the weak image is all there is
    assert alone.source == "image" and "head" not in alone.parts


@pytest.mark.shared_data
def test_a_brain_qa_phantom_is_not_judged_by_the_chest_model(shared_data) -> None:
    series = shared_data / "dicom" / "dcm_qa_ct_philips_exam" / "S2010"
    volume = next(iter(load_inputs([series])))
    result = analyse(volume)
    assert result.model.body_part != "chest"
    assert not result.assessed or result.model.body_part == "head"


@pytest.mark.shared_data
def test_real_head_ct_looks_like_a_head(head_ct: Volume) -> None:
    assert guess_body_parts(head_ct).main == "head"


@pytest.mark.shared_data
def test_head_ct_with_only_a_chest_model_is_not_assessed(head_ct: Volume, chest_model) -> None:
    catalog = ModelCatalog.from_paths([(paths.default_model_path(), "bundled")])
    result = analyse(head_ct, catalog=catalog)
    assert not result.assessed and result.state == "not_assessed"
    assert "no model for head CT installed" in result.not_assessed_reason
    assert "ctviewer train" in result.not_assessed_reason
    headline, detail = result.verdict()
    assert headline == "Not assessed" and detail == result.not_assessed_reason
    # the chest model given explicitly refuses too: it says what it is for
    forced = detect(head_ct, chest_model)
    assert not forced.assessed and "is for chest" in forced.not_assessed_reason
    item = forced.to_json()
    assert item["assessed"] is False and item["not_assessed_reason"]
    assert item["score"] is None and item["findings"] == []
    assert item["model"]["body_part"] == "chest"


@pytest.mark.shared_data
def test_head_ct_with_a_head_model_is_assessed_by_it(
    head_ct: Volume, chest_model, tmp_path: Path
) -> None:
    head = relabelled(chest_model, tmp_path, ("head",))
    catalog = ModelCatalog.from_paths([(paths.default_model_path(), "bundled"), (head, "bundled")])
    choice = catalog.choose(head_ct)
    assert choice.entry is not None and choice.entry.fits.body_parts == ("head",)
    result = analyse(head_ct, catalog=catalog)
    assert result.assessed and result.model.body_part == "head"
    assert result.to_json()["model"] == {
        "name": "test-head",
        "version": result.model.version,
        "body_part": "head",
    }


def test_chest_phantom_gets_the_chest_model(tmp_path: Path, chest_model) -> None:
    head = relabelled(chest_model, tmp_path, ("head",))
    catalog = ModelCatalog.from_paths([(head, "user"), (paths.default_model_path(), "bundled")])
    volume = make_phantom(shape=(24, 128, 128), seed=7).volume
    result = analyse(volume, catalog=catalog)
    assert result.assessed and result.model.body_part == "chest"


def test_eight_bit_image_with_only_ct_models_is_not_assessed() -> None:
    picture = Volume(np.full((1, 64, 64), 0.5, np.float32), (1, 1, 1), is_hu=False)
    picture.source = "photo.png"
    catalog = ModelCatalog.from_paths([(paths.default_model_path(), "bundled")])
    result = analyse(picture, catalog=catalog)
    assert not result.assessed and "8-bit images installed" in result.not_assessed_reason


def test_input_far_from_the_training_distribution_is_not_assessed(
    chest_model, tmp_path: Path
) -> None:
    """A body without any lung: a lung model that cannot tell body parts apart (it declares
    none) still sees that the region it looks at is missing."""
    path = tmp_path / "lungs.pt"
    save_model(chest_model, path)
    model = load_model(path, device="cpu")
    phantom = make_phantom(shape=(24, 128, 128), seed=5).volume
    model.metadata["fits"] = Fits(kind="hu", organ_share=(0.1, 0.3)).to_json()
    assert detect(phantom, model).assessed
    soft = phantom.array.copy()
    soft[(soft > -990) & (soft < -300)] = 40.0  # lungs filled with soft tissue
    result = detect(Volume(soft, phantom.spacing), model)
    assert not result.assessed
    assert "outside the training distribution" in result.not_assessed_reason


def test_not_assessed_is_never_a_verdict_in_detect_output(tmp_path: Path) -> None:
    picture = tmp_path / "slice.png"
    from PIL import Image

    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(picture)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "ctviewer", "detect", str(picture), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "NOT ASSESSED" in done.stdout and "below threshold" not in done.stdout
    item = json.loads((out / "results.json").read_text())["items"][0]
    assert item["assessed"] is False and item["not_assessed_reason"]
    assert set(item["model"]) == {"name", "version", "body_part"}
    assert "map" not in item


def test_models_add_installs_and_lists_with_body_part(tmp_path: Path, chest_model) -> None:
    head = relabelled(chest_model, tmp_path, ("head",))
    entry = add_model(head)
    assert entry.fits.body_parts == ("head",)
    listed = subprocess.run(
        [sys.executable, "-m", "ctviewer", "models", "list", "--json"],
        capture_output=True,
        text=True,
    )
    installed = json.loads(listed.stdout)["installed"]
    assert {"head"} in [set(e["body_parts"]) for e in installed]
    assert any(e["source"] == "user" and e["path"] == str(head.resolve()) for e in installed)
    chest = next(e for e in installed if e["source"] == "bundled" and "chest" in e["body_parts"])
    slices = chest["calibrated_slices_mm"]  # thin- and thick-slice series judged by their own
    assert min(slices) < 5 and max(slices) > 9, slices


def test_models_add_refuses_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a model")
    done = subprocess.run(
        [sys.executable, "-m", "ctviewer", "models", "add", str(bogus)],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "bogus.pt" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
