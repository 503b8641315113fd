"""The main window's menus, toolbar, status bar and shortcuts, bound from `viewer.bindings.KEYS`
(the same table Help → Keyboard and mouse shows): each binding's action names a command of the
window (`MainWindow.commands()`), so a key cannot be bound without being documented. The window
passes itself in; this module does not import it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from ctviewer.render import COLORMAPS
from ctviewer.ui.settings import DEVICES
from ctviewer.ui.worklist_panel import open_worklist
from ctviewer.viewer.bindings import KEYS, key_binding

VIEW_AREA_KEYS = (  # keys of the viewing area, not of text boxes; cine last (it has an action)
    "previous_slice",
    "next_slice",
    "page_up",
    "page_down",
    "first_slice",
    "last_slice",
    "cine",
)  # keys of the viewing area, not of text boxes
CHECKABLE = (
    "overlay",
    "mpr",
    "oblique",
    "corner_text",
    "deidentified",
    "tool_length",
    "tool_ellipse",
    "tool_rectangle",
)
MENU_TEXT = {
    "open_folder": "Open &folder…", "open_file": "Open f&ile…", "save_view": "&Save view as PNG…",
    "copy_view": "&Copy view", "close_study": "&Close study", "quit": "&Quit",
    "overlay": "&Overlay", "mpr": "&MPR (coronal + sagittal)", "oblique": "O&blique MPR",
    "corner_text": "On-image &text",
    "deidentified": "&De-identified display", "zoom_fit": "Zoom to &fit", "zoom_1to1": "Zoom &1:1",
    "reset_view": "&Reset view", "cine": "C&ine play / stop", "default_window": "&Default window",
    "roi_window": "Window from the selected &ROI", "tool_length": "&Length",
    "tool_ellipse": "&Ellipse", "tool_rectangle": "&Rectangle",
    "delete_measurement": "&Delete measurement", "run_analysis": "&Run analysis",
    "cancel": "&Cancel", "help_bindings": "&Keyboard and mouse…", "pacs": "&PACS…",
}  # fmt: skip


def make_action(
    window: QWidget, text: str, slot, shortcut: str | None = None, checkable: bool = False
) -> QAction:
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    window.addAction(action)  # shortcuts work while menus/toolbars are hidden too
    return action


def build_actions(w: QMainWindow) -> dict[str, QAction]:
    """A QAction per window-wide binding (menus show its first key); view-area keys become
    shortcuts of the viewing area (`bind_view_keys`)."""
    commands = w.commands()
    actions: dict[str, QAction] = {}
    for binding in KEYS:
        if binding.action == "preset" or binding.action in VIEW_AREA_KEYS[:-1]:
            continue  # presets: `PresetsMenu`; slice keys: `bind_view_keys`
        text = MENU_TEXT.get(binding.action, binding.text)
        action = make_action(w, text, commands[binding.action], None, binding.action in CHECKABLE)
        if binding.action not in VIEW_AREA_KEYS:  # cine's Space is a view-area key
            action.setShortcuts([QKeySequence(k) for k in binding.keys])
        action.setToolTip(f"{binding.text} ({binding.keys[0]})")
        actions[binding.action] = action
    tools = QActionGroup(w)
    tools.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
    for name in ("tool_length", "tool_ellipse", "tool_rectangle"):
        tools.addAction(actions[name])
    return actions


def bind_view_keys(w: QMainWindow, area) -> None:
    """Slice keys and cine act wherever the focus is in the viewing area (views, score plot)."""
    commands = w.commands()
    for name in VIEW_AREA_KEYS:
        for key in key_binding(name).keys:
            shortcut = QShortcut(QKeySequence(key), area)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(commands[name])


def build_menus(w: QMainWindow) -> None:
    a = w.acts
    menu = w.menuBar().addMenu("&File")
    menu.addAction(a["open_folder"])
    menu.addAction(a["open_file"])
    menu.addAction(make_action(w, "Open &DICOMDIR…", w.choose_dicomdir))
    menu.addAction(a["pacs"])
    menu.addAction(make_action(w, "Open &worklist…", lambda: open_worklist(w)))
    w.recent_menu = menu.addMenu("&Recent studies")
    menu.addAction(make_action(w, "Try the &demo study", w.open_demo))
    menu.addSeparator()
    for action in w.review_actions.file_actions():
        menu.addAction(action)
    for name in ("save_view", "copy_view", None, "close_study", "quit"):
        menu.addAction(a[name]) if name else menu.addSeparator()

    view = w.menuBar().addMenu("&View")
    for name in (
        "overlay",
        "mpr",
        "oblique",
        "corner_text",
        "deidentified",
        None,
        "zoom_fit",
        "zoom_1to1",
        "reset_view",
        "cine",
    ):
        view.addAction(a[name]) if name else view.addSeparator()
    view.addSeparator()
    w.presets.build_menu(view.addMenu("Window &presets"))
    view.addAction(a["default_window"])
    view.addAction(a["roi_window"])

    measure = w.menuBar().addMenu("&Measure")
    for name in ("tool_length", "tool_ellipse", "tool_rectangle", "delete_measurement"):
        measure.addAction(a[name])

    analysis = w.menuBar().addMenu("&Analysis")
    for name in ("run_analysis", "cancel"):
        analysis.addAction(a[name])
    w.auto_run_action = make_action(w, "&Automatic analysis on open", w.set_auto_run, None, True)
    analysis.addAction(w.auto_run_action)
    analysis.addSeparator()
    for action in w.review_actions.model_actions():
        analysis.addAction(action)
    devices = analysis.addMenu("&Device")
    w.device_group = QActionGroup(w)
    for name in DEVICES:
        action = make_action(w, name, lambda _=False, n=name: w.set_device(n), None, True)
        w.device_group.addAction(action)
        devices.addAction(action)
    help_menu = w.menuBar().addMenu("&Help")
    help_menu.addAction(a["help_bindings"])
    help_menu.addAction(make_action(w, "&About", w.about))


def build_toolbar(w: QMainWindow) -> None:
    a = w.acts
    bar = w.toolbar = w.addToolBar("Main")
    bar.setObjectName("mainToolbar")
    for name in (
        "run_analysis",
        "overlay",
        "mpr",
        None,
        "tool_length",
        "tool_ellipse",
        "tool_rectangle",
        None,
        "cine",
    ):
        bar.addAction(a[name]) if name else bar.addSeparator()
    a["mpr"].setIconText("MPR")  # the toolbar's short names; menus keep the long ones
    a["cine"].setIconText("Cine")
    bar.addWidget(QLabel(" fps "))
    w.fps_box = QSpinBox()
    w.fps_box.setRange(1, 30)
    w.fps_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
    w.fps_box.setToolTip("Cine frame rate (frames per second)")
    bar.addWidget(w.fps_box)
    bar.addSeparator()
    w.presets.build_toolbar(bar)
    bar.addSeparator()
    bar.addWidget(QLabel(" Colours "))
    w.colormap_box = QComboBox()
    w.colormap_box.addItems(list(COLORMAPS))
    w.colormap_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    w.colormap_box.currentTextChanged.connect(w.set_colormap)
    bar.addWidget(w.colormap_box)
    bar.addWidget(QLabel(" Opacity "))
    w.opacity_slider = QSlider(Qt.Orientation.Horizontal)
    w.opacity_slider.setRange(0, 100)
    w.opacity_slider.setMaximumWidth(120)
    w.opacity_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    w.opacity_slider.valueChanged.connect(lambda v: w.set_opacity(v / 100))
    bar.addWidget(w.opacity_slider)


def build_status_bar(w: QMainWindow) -> None:
    bar = w.statusBar()
    w.cursor_label = QLabel("")
    w.window_label = QLabel("")
    w.device_label = QLabel("device: –")
    w.progress_bar = QProgressBar()
    w.progress_bar.setMaximumWidth(200)
    w.progress_bar.setRange(0, 1000)
    w.progress_bar.setVisible(False)
    w.cancel_button = QPushButton("Cancel")
    w.cancel_button.setVisible(False)
    w.cancel_button.clicked.connect(lambda: w.cancel_jobs())
    for widget in (w.cursor_label, w.window_label, w.device_label):
        bar.addPermanentWidget(widget)
    bar.addPermanentWidget(w.progress_bar)
    bar.addPermanentWidget(w.cancel_button)
