"""The viewer's state and rules without Qt (napari's `ViewerModel`, Slicer's Logic).

`ViewerModel` holds what is shown and decided (study, volume, result, window, slice positions,
selected finding, measurements) and tells listeners through `events`; `ui/` only binds widgets
to it. `bindings` is the one table of keys and mouse gestures; `corner_text` writes the on-image
text; `oblique` samples the oblique MPR plane.
"""

from ctviewer.viewer.events import Event
from ctviewer.viewer.model import ViewerModel

__all__ = ["Event", "ViewerModel"]
