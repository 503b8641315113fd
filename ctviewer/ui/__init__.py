"""ctviewer.ui: the PySide6 + pyqtgraph shell (displays and dispatches; no computation here)."""
