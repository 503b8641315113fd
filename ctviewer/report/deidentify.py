"""De-identification for every export: the PDF header and the DICOM headers we write.

DICOM follows the Basic Application Level Confidentiality Profile (PS3.15 Annex E), Table E.1-1
complete: every attribute of the table gets its action (the table itself comes, as data, from the
`dicom-anonymizer` package, edition 2026c). X removes, Z empties, D puts a dummy value of the
attribute's VR in, U replaces a UID. The combined actions (Z/D, X/Z, X/D, X/Z/D, X/Z/U*) take the
least that keeps the dataset's IOD conformant: the attribute's Type in that IOD (PS3.3, from the
module tables highdicom ships) decides — Type 1 needs a value, Type 2 needs the attribute, Type 3
(or an IOD we do not know) is removed. Sequences are walked item by item with the same table;
private attributes are removed; the patient is named `ANONYMOUS` with a fresh random ID.

UIDs are replaced through one `UidMap` per export, so the SEG and the SC images of one export
still reference each other and their (de-identified) source consistently, but no longer the
original study in the PACS. The map is never written anywhere.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cache

from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table_e1_1
from highdicom._standard_utils import (  # PS3.3 module tables (highdicom uses them itself)
    get_iod_module_map,
    get_module_attribute_map,
    get_sop_class_iod_map,
)
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from ctviewer.volume import Volume

ANONYMOUS = "ANONYMOUS^"  # trailing caret: a one-component person name
DEIDENTIFIED = "de-identified"
PROFILE_EDITION = "2026c"
METHOD = f"ctviewer: DICOM PS3.15 E.1 basic profile ({PROFILE_EDITION} table), new UIDs"

# the table's action groups (dicom-anonymizer's names) → PS3.15 action codes
_ACTION_GROUPS = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}
# combined action → the action taken for an attribute of Type 1, 2 and 3 in the dataset's IOD
_RESOLVED = {
    "Z/D": ("D", "Z", "Z"),
    "X/Z": ("Z", "Z", "X"),
    "X/D": ("D", "D", "X"),
    "X/Z/D": ("D", "Z", "X"),
    "X/Z/U*": ("U", "Z", "X"),  # U on a sequence: keep it, its UIDs replaced
}
DUMMY_TEXT = "ANONYMIZED"
_DUMMIES = {
    "PN": ANONYMOUS,
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
    "UR": "http://anonymized.invalid",
}
_TEXT_VRS = {"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UT"}
_NUMBER_VRS = {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"}


@dataclass
class ReportHeader:
    """What identifies the study in a report; all de-identified values when `deidentified`."""

    patient_name: str
    patient_id: str
    birth_date: str
    study_date: str
    series_description: str
    deidentified: bool = False


def _text(value: object) -> str:
    return str(value).strip() if value not in (None, "") else ""


def _date(value: object) -> str:
    """DICOM DA `YYYYMMDD` → `YYYY-MM-DD`; anything else as it is."""
    text = _text(value)
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def report_header(volume: Volume, deidentify: bool) -> ReportHeader:
    """The PDF header from `volume.meta` (DICOM keywords); PHI replaced when `deidentify`."""
    meta = volume.meta
    if deidentify:
        # descriptions are free text (basic profile action X): they go too
        return ReportHeader(*[DEIDENTIFIED] * 5, deidentified=True)
    name = _text(meta.get("PatientName")).replace("^", " ").strip()
    return ReportHeader(
        patient_name=name or "—",
        patient_id=_text(meta.get("PatientID")) or "—",
        birth_date=_date(meta.get("PatientBirthDate")) or "—",
        study_date=_date(meta.get("StudyDate")) or "—",
        series_description=_text(meta.get("SeriesDescription")),
    )


@dataclass
class UidMap:
    """Original UID → new random UID, consistent within one export."""

    mapping: dict[str, str] = field(default_factory=dict)
    patient_id: str = field(default_factory=lambda: "ANON-" + generate_uid(prefix=None)[-10:])

    def __call__(self, uid: str) -> str:
        if uid not in self.mapping:
            self.mapping[uid] = generate_uid()
        return self.mapping[uid]


@cache
def basic_profile() -> tuple[dict[int, str], tuple[tuple[int, int, str], ...]]:
    """Table E.1-1's Basic Profile column: {tag: action} and the repeating groups as
    (tag, mask, action), e.g. Overlay Data (60xx,3000)."""
    exact: dict[int, str] = {}
    masked = []
    for group, action in _ACTION_GROUPS.items():
        for entry in getattr(table_e1_1, group):
            tag = (entry[0] << 16) | entry[1]
            if len(entry) == 4:
                masked.append((tag, (entry[2] << 16) | entry[3], action))
            else:
                exact[tag] = action
    return exact, tuple(masked)


def profile_action(tag: int) -> str | None:
    """The Basic Profile action for `tag` (None: not in the table, so kept)."""
    exact, masked = basic_profile()
    if tag in exact:
        return exact[tag]
    return next((action for value, mask, action in masked if tag & mask == value & mask), None)


@cache
def attribute_types(sop_class_uid: str) -> dict[tuple[str, ...], int]:
    """(sequence keywords…, keyword) → Type 1, 2 or 3 of that attribute in the IOD of
    `sop_class_uid` (1C/2C count as 1/2; the strongest wins where modules overlap). Empty for
    an IOD highdicom does not know: then every combined action removes."""
    iod = get_sop_class_iod_map().get(str(sop_class_uid))
    if iod is None:
        return {}
    modules = get_module_attribute_map()
    types: dict[tuple[str, ...], int] = {}
    for module in get_iod_module_map()[iod]:
        for attribute in modules.get(module["key"], ()):  # a few modules have no table
            key = (*attribute["path"], attribute["keyword"])
            kind = int(str(attribute["type"])[0]) if str(attribute["type"])[:1] in "123" else 3
            types[key] = min(types.get(key, 3), kind)
    return types


def resolved_action(action: str, attribute_type: int) -> str:
    """X, Z, D or U for one attribute: a combined action resolved by the attribute's Type."""
    return _RESOLVED[action][attribute_type - 1] if action in _RESOLVED else action


def deidentify_dataset(dataset: Dataset, uids: UidMap) -> Dataset:
    """A de-identified copy of `dataset` (headers only matter; pixel data is left untouched)."""
    out = copy.deepcopy(dataset)
    out.remove_private_tags()
    types = attribute_types(str(out.get("SOPClassUID", "")))
    _apply_profile(out, uids, types, ())
    if hasattr(out, "file_meta"):
        _apply_profile(out.file_meta, uids, {}, ())
    # Z/D and Z allow a dummy: one recognisable name and an ID that groups this export's files
    out.PatientName = ANONYMOUS
    out.PatientID = uids.patient_id
    mark_deidentified(out)
    return out


def mark_deidentified(dataset: Dataset) -> None:
    """Patient Identity Removed = YES and the method (PS3.3 C.12.1 / PS3.15 E.1.1)."""
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    dataset.DeidentificationMethodCodeSequence = Sequence([code])


def _apply_profile(
    dataset: Dataset, uids: UidMap, types: dict[tuple[str, ...], int], path: tuple[str, ...]
) -> None:
    """Every attribute of `dataset` (at sequence path `path`) through Table E.1-1, recursively."""
    for element in list(dataset):
        action = profile_action(int(element.tag))
        key = (*path, element.keyword)
        if action is None:
            if element.VR == "SQ":
                for item in element.value:
                    _apply_profile(item, uids, types, key)
            continue
        decided = resolved_action(action, types.get(key, 3))
        if decided == "X":
            del dataset[element.tag]
        elif decided == "Z":
            element.value = Sequence() if element.VR == "SQ" else None
        elif decided == "D":
            _dummy(element, uids)
        elif element.VR == "SQ":  # U of X/Z/U*: the references stay, their UIDs replaced
            for item in element.value:
                _apply_profile(item, uids, types, key)
        else:
            _replace_uids(element, uids)


def _replace_uids(element: DataElement, uids: UidMap) -> None:
    if isinstance(element.value, MultiValue | list):
        element.value = [uids(str(v)) for v in element.value if v]
    elif element.value:
        element.value = uids(str(element.value))


def _dummy(element: DataElement, uids: UidMap) -> None:
    """Action D: a non-empty dummy value of the element's VR; a sequence keeps its items with
    every value in them replaced by dummies (UIDs still consistently mapped)."""
    vr = element.VR.split(" or ")[0]
    if vr == "SQ":
        for item in element.value:
            for inner in item:
                _dummy(inner, uids)
    elif vr == "UI":
        _replace_uids(element, uids)
        if not element.value:
            element.value = generate_uid()
    elif vr in _DUMMIES:
        element.value = _DUMMIES[vr]
    elif vr in _TEXT_VRS:
        element.value = DUMMY_TEXT
    elif vr in _NUMBER_VRS:
        element.value = 0
    else:  # OB, OW, OF, OD, OL, OV, UN: two zero bytes
        element.value = b"\x00\x00"
