"""Entry point of the frozen app: the same `ctviewer` command as the pip-installed one.

`ctviewer` alone (a double-click) opens the viewer; `ctviewer open PATH` opens PATH;
`ctviewer --self-test` checks that the bundle is whole.
"""

import multiprocessing
import sys

from ctviewer.cli.main import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())
