"""resources/samples: a recording of every scenario, made by `visualizer record`."""

from __future__ import annotations

from pathlib import Path

import pytest

from visualizer.core.pcap.reader import CaptureFile
from visualizer.core.pcap.recording import RecordingInfo
from visualizer.core.traffic.registry import list_scenarios

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@pytest.mark.parametrize("name", [s.name for s in list_scenarios()])
def test_every_scenario_has_its_recording(name: str) -> None:
    path = RESOURCES / "samples" / f"{name}.pcapng"
    assert path.is_file(), f"no sample for {name}: run resources/make-samples.sh"
    capture = CaptureFile.open(str(path))
    try:
        info = RecordingInfo.from_capture(capture)
    finally:
        capture.close()
    assert info is not None and info.scenario == name

