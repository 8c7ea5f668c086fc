"""The desktop application: the only package that imports PyQt6 and pyqtgraph."""
