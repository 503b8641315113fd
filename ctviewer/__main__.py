"""`python -m ctviewer` runs the command-line interface."""

from ctviewer.cli.main import main

raise SystemExit(main())
