"""The one table of keyboard and mouse bindings: the window binds its actions from `KEYS`, the
slice views dispatch mouse gestures through `mouse_action`, and Help → Keyboard and mouse and the
README's table are generated from the same rows (`markdown_table`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyBinding:
    action: str  # the command the window binds (its name in `MainWindow.commands`)
    keys: tuple[str, ...]  # QKeySequence strings; the first is shown in menus
    text: str
    group: str


@dataclass(frozen=True)
class MouseBinding:
    action: str  # "window_level", "pan", "zoom", "scroll", "locate", "draw", "edit"
    button: str  # "left", "middle", "right", "wheel"
    modifier: str  # "", "Shift", "Ctrl"
    text: str


PAGE_STEP = 10  # slices per PageUp/PageDown
PRESET_KEYS = tuple(str(k) for k in range(1, 10))

KEYS = (
    KeyBinding("open_folder", ("Ctrl+O",), "Open a DICOM folder", "File"),
    KeyBinding("open_file", ("Ctrl+Shift+O",), "Open an image file or DICOMDIR", "File"),
    KeyBinding("pacs", ("Ctrl+Shift+P",), "PACS: search, retrieve, send", "File"),
    KeyBinding("save_view", ("Ctrl+S",), "Save the active view as PNG", "File"),
    KeyBinding("copy_view", ("Ctrl+Shift+C",), "Copy the active view", "File"),
    KeyBinding("close_study", ("Ctrl+W",), "Close the study", "File"),
    KeyBinding("quit", ("Ctrl+Q",), "Quit", "File"),
    KeyBinding("previous_slice", ("Up", "Left"), "Previous slice of the active view", "Navigate"),
    KeyBinding("next_slice", ("Down", "Right"), "Next slice of the active view", "Navigate"),
    KeyBinding("page_up", ("PgUp",), f"{PAGE_STEP} slices back", "Navigate"),
    KeyBinding("page_down", ("PgDown",), f"{PAGE_STEP} slices on", "Navigate"),
    KeyBinding("first_slice", ("Home",), "First slice", "Navigate"),
    KeyBinding("last_slice", ("End",), "Last slice", "Navigate"),
    KeyBinding("cine", ("Space",), "Cine: play / stop (frame rate in the toolbar)", "Navigate"),
    KeyBinding("zoom_fit", ("F",), "Zoom to fit", "Navigate"),
    KeyBinding("zoom_1to1", ("Z",), "Zoom 1:1 (one screen pixel per image pixel)", "Navigate"),
    KeyBinding(
        "reset_view", ("Backspace",), "Reset the view: fit, centre, default window", "Navigate"
    ),  # fmt: skip
    KeyBinding("preset", PRESET_KEYS, "Window presets 1–9 (shipped and your own)", "Window"),
    KeyBinding("default_window", ("0",), "The file's own window", "Window"),
    KeyBinding("roi_window", ("Shift+W",), "Window/level from the selected ROI", "Window"),
    KeyBinding("overlay", ("O",), "Anomaly overlay on / off", "View"),
    KeyBinding("mpr", ("M",), "MPR (coronal + sagittal) on / off", "View"),
    KeyBinding("oblique", ("Shift+M",), "Oblique MPR in place of the sagittal view", "View"),
    KeyBinding("corner_text", ("T",), "On-image text on / off", "View"),
    KeyBinding("deidentified", ("Shift+D",), "De-identified display on / off", "View"),
    KeyBinding("tool_length", ("L",), "Length tool (again: back to window/level)", "Measure"),
    KeyBinding("tool_ellipse", ("E",), "Ellipse ROI tool", "Measure"),
    KeyBinding("tool_rectangle", ("B",), "Rectangle (box) ROI tool", "Measure"),
    KeyBinding("delete_measurement", ("Delete",), "Delete the selected measurement", "Measure"),
    KeyBinding("run_analysis", ("Ctrl+R",), "Run the analysis", "Review"),
    KeyBinding(
        "cancel", ("Esc",), "Cancel running jobs, stop cine, leave the measuring tool", "Review"
    ),
    KeyBinding("accept", ("A",), "Accept the selected finding", "Review"),
    KeyBinding("reject", ("R",), "Reject the selected finding", "Review"),
    KeyBinding("next_unreviewed", ("N",), "Worklist: next case nobody has reviewed", "Review"),
    KeyBinding("previous_unreviewed", ("Shift+N",), "Worklist: previous unreviewed case", "Review"),
    KeyBinding("help_bindings", ("F1",), "This table of keys and mouse", "Help"),
)

MOUSE = (
    MouseBinding(
        "window_level", "left", "", "Left drag: window (right = wider) / level (down = higher)"
    ),  # fmt: skip
    MouseBinding("draw", "left", "", "Left drag with a measuring tool on: draw it"),
    MouseBinding("edit", "left", "", "Drag a measurement's handle: edit it"),
    MouseBinding("locate", "left", "", "Left click: the other planes go through that point"),
    MouseBinding("locate", "left", "", "Drag a crosshair line: its plane follows (MPR)"),
    MouseBinding("pan", "left", "Shift", "Shift + left drag: pan"),
    MouseBinding("pan", "middle", "", "Middle drag: pan"),
    MouseBinding("zoom", "right", "", "Right drag: zoom (up = in)"),
    MouseBinding("zoom", "wheel", "Ctrl", "Ctrl + wheel: zoom"),
    MouseBinding("scroll", "wheel", "", "Wheel: scroll slices"),
    MouseBinding(
        "turn",
        "left",
        "",
        "Left drag in the oblique view: turn its plane about the "
        "slice axis (the axial view shows its trace)",
    ),  # fmt: skip
)


def key_binding(action: str) -> KeyBinding:
    return next(b for b in KEYS if b.action == action)


def mouse_action(button: str, modifier: str = "") -> str | None:
    """What a drag/wheel with this button and modifier does ("draw" and "edit" are decided by
    the view: they replace window/level while a tool is on or on a handle)."""
    for binding in MOUSE:
        if binding.button == button and binding.modifier == modifier:
            return binding.action
    return None


def rows() -> list[tuple[str, str, str]]:
    """(group, keys or gesture, what it does) for every binding, keys first."""
    keys = [(b.group, " / ".join(b.keys) if b.action != "preset" else "1 … 9", b.text)
            for b in KEYS]  # fmt: skip
    return keys + [("Mouse", *m.text.split(": ", 1)) for m in MOUSE]


def markdown_table() -> str:
    lines = ["| Group | Key / gesture | Does |", "|---|---|---|"]
    lines += [f"| {g} | {k} | {t} |" for g, k, t in rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
