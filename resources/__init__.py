"""Installed as the package ``visualizer.resources`` (see setup.py): icons,
sample recordings and the desktop entry, read with ``importlib.resources``."""
