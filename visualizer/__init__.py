"""Packet Visualizer: makes TCP and UDP visible."""

__version__ = "0.1.0"
APP_NAME = "Packet Visualizer"
