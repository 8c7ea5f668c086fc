"""``python -m visualizer``: the same entry point as the ``visualizer`` script."""

import sys

from visualizer.cli import main

sys.exit(main())
