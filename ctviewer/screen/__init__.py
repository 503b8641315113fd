"""Archive screening: every series under some sources analysed once, into a prioritised worklist.

`sources` finds the series (headers only; `pacs_source` first retrieves a `pacs://` query's
studies into the PACS cache), `worklist` is the SQLite database of rows and their outcomes,
`analyst` is what each worker holds (models loaded once) and does (series → Outcome), `runners`
run analysts here, in a process pool or on Ray actors, and `run.screen` is the loop that ties
them together and is the one writer of the worklist.
"""

from ctviewer.screen.run import ScreenSummary, screen
from ctviewer.screen.worklist import Worklist, WorklistRow

__all__ = ["ScreenSummary", "Worklist", "WorklistRow", "screen"]
