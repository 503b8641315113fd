"""User window presets beside the shipped ones: add, rename, delete, keys 1–9, bad files."""

from __future__ import annotations

import pytest

from ctviewer.errors import InputError
from ctviewer.presets import (
    add_user_preset,
    all_presets,
    delete_user_preset,
    get_preset,
    load_presets,
    rename_user_preset,
    user_presets_path,
)


def test_user_presets_follow_the_shipped_ones_and_persist() -> None:
    shipped = load_presets()
    assert all_presets() == shipped  # no user file yet
    mine = add_user_preset("Stroke", (35.0, 40.0))
    again = add_user_preset("Stroke", (30.0, 30.0))  # same label: a name of its own
    assert mine.name != again.name and user_presets_path().exists()
    presets = all_presets()
    assert [p.name for p in presets[: len(shipped)]] == [p.name for p in shipped]
    assert presets[len(shipped)].window == (35.0, 40.0)
    assert presets[len(shipped)].key == str(len(shipped) + 1)
    rename_user_preset(mine.name, "Stroke window")
    assert get_preset(mine.name).label == "Stroke window"
    delete_user_preset(again.name)
    assert [p.name for p in all_presets()][len(shipped) :] == [mine.name]
    for i in range(5):
        add_user_preset(f"extra {i}", (0.0, 100.0))
    keys = [p.key for p in all_presets()]
    assert keys[:9] == [str(k) for k in range(1, 10)] and set(keys[9:]) == {""}


def test_bad_user_presets_are_one_line_errors() -> None:
    with pytest.raises(InputError, match="needs a name"):
        add_user_preset("  ", (0.0, 10.0))
    with pytest.raises(InputError, match="positive width"):
        add_user_preset("x", (0.0, 0.0))
    user_presets_path().write_text("{not json")
    with pytest.raises(InputError, match="window_presets.json") as info:
        all_presets()
    assert "\n" not in str(info.value)
