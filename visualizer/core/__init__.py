"""The Qt-free core: packets, flows, TCP tracking, capture, traffic, pcap I/O.

Nothing below this package may import PyQt6 or pyqtgraph; a test checks it.
"""
