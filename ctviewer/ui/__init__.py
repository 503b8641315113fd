"""ctviewer.ui: the PySide6 + pyqtgraph shell (displays and dispatches; no computation here)."""

from ctviewer.ui import qtfix  # noqa: F401 - guards against a PySide6 refcount bug on import
