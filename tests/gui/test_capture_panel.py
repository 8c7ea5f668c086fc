"""The live-capture controls: interface chooser, filter checked as typed, Start/Stop."""

from __future__ import annotations

from PyQt6.QtCore import Qt

from visualizer.core.capture.interfaces import Interface
from visualizer.gui.capture_panel import CHECK_DELAY_MS, CapturePanel


def _panel(qtbot, interfaces: list[Interface] | None = None) -> CapturePanel:
    panel = CapturePanel(interfaces=interfaces)
    qtbot.addWidget(panel)  # not shown: the offscreen platform warns on show()
    return panel


def _type_filter(qtbot, panel: CapturePanel, text: str) -> None:
    panel.filter_edit.clear()
    qtbot.keyClicks(panel.filter_edit, text)
    qtbot.waitUntil(lambda: not panel._timer.isActive(), timeout=2 * CHECK_DELAY_MS + 1000)


def test_lo_is_offered_first_with_its_state(qtbot) -> None:
    panel = _panel(qtbot)
    assert panel.interface() == "lo"
    assert panel.interface_box.itemText(0) == "lo (up)"
    assert "127.0.0.1" in panel.interface_box.itemData(0, Qt.ItemDataRole.ToolTipRole)
    assert panel.start_button.isEnabled()
    assert panel.filter_valid


def test_a_bad_filter_turns_red_and_disables_start(qtbot) -> None:
    panel = _panel(qtbot)
    _type_filter(qtbot, panel, "tcp port")
    assert not panel.filter_valid
    assert not panel.start_button.isEnabled()
    assert panel.message_label.isVisibleTo(panel)
    assert "syntax error" in panel.message_label.text()
    assert "syntax error" in panel.filter_edit.toolTip()
    assert "#c62828" in panel.filter_edit.styleSheet()
    with qtbot.assert_not_emitted(panel.start_requested):
        qtbot.keyClick(panel.filter_edit, Qt.Key.Key_Return)
        panel.start_button.click()


def test_fixing_the_filter_enables_start_again(qtbot) -> None:
    panel = _panel(qtbot)
    _type_filter(qtbot, panel, "tcp port")
    assert not panel.start_button.isEnabled()
    qtbot.keyClicks(panel.filter_edit, " 80")
    # Not checked until the typing pauses...
    assert panel._timer.isActive() and not panel.start_button.isEnabled()
    qtbot.waitUntil(panel.start_button.isEnabled, timeout=2000)
    assert panel.filter_valid and not panel.message_label.isVisibleTo(panel)
    assert "#2e7d32" in panel.filter_edit.styleSheet()  # the green hint


def test_an_empty_filter_is_valid_and_captures_everything(qtbot) -> None:
    panel = _panel(qtbot)
    _type_filter(qtbot, panel, "udp port")
    assert not panel.filter_valid
    _type_filter(qtbot, panel, "")
    assert panel.filter_valid and panel.start_button.isEnabled()
    assert panel.filter_edit.styleSheet() == ""
    with qtbot.wait_signal(panel.start_requested) as blocker:
        panel.start_button.click()
    assert blocker.args == ["lo", ""]


def test_start_sends_interface_and_filter(qtbot) -> None:
    panel = _panel(qtbot)
    _type_filter(qtbot, panel, "tcp port 80")
    with qtbot.wait_signal(panel.start_requested) as blocker:
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["lo", "tcp port 80"]


def test_start_right_after_typing_checks_the_filter_first(qtbot) -> None:
    panel = _panel(qtbot)
    qtbot.keyClicks(panel.filter_edit, "tcp port")
    assert panel._timer.isActive()  # the debounced check has not run yet
    with qtbot.assert_not_emitted(panel.start_requested):
        panel.start_button.click()  # enabled a moment ago, when the filter was empty
    assert not panel.filter_valid and not panel.start_button.isEnabled()


def test_running_turns_start_into_stop(qtbot) -> None:
    panel = _panel(qtbot)
    with qtbot.wait_signal(panel.start_requested):
        panel.start_button.click()
    assert panel.start_button.text() == "Start"  # until the window says it runs
    panel.set_running(True)
    assert panel.start_button.text() == "Stop" and panel.start_button.isEnabled()
    assert not panel.interface_box.isEnabled() and panel.filter_edit.isReadOnly()
    with qtbot.assert_not_emitted(panel.stop_requested):
        qtbot.keyClick(panel.filter_edit, Qt.Key.Key_Return)  # Enter never stops
    with qtbot.wait_signal(panel.stop_requested):
        panel.start_button.click()
    panel.set_running(False)
    assert panel.start_button.text() == "Start" and panel.interface_box.isEnabled()


def test_capture_not_permitted_disables_start_with_the_reason(qtbot) -> None:
    panel = _panel(qtbot)
    panel.set_capture_permitted(False, "capture needs CAP_NET_RAW")
    assert not panel.start_button.isEnabled()
    assert panel.start_button.toolTip() == "capture needs CAP_NET_RAW"
    panel.set_capture_permitted(True, "")
    assert panel.start_button.isEnabled()


def test_choosing_another_interface_checks_the_filter_again_at_once(qtbot) -> None:
    # The filter compiles for the chosen interface's link type, so the
    # interface matters: "lo2" is listed but does not exist here.
    interfaces = [Interface("lo", True, True, 1, ("127.0.0.1",)),
                  Interface("lo2", False, True, 1)]
    panel = _panel(qtbot, interfaces)
    assert [panel.interface_box.itemText(i) for i in range(2)] == ["lo (up)", "lo2 (down)"]
    _type_filter(qtbot, panel, "ether host 00:11:22:33:44:55")
    assert panel.filter_valid
    panel.interface_box.setCurrentIndex(1)
    assert not panel.filter_valid
    assert "no such interface 'lo2'" in panel.message_label.text()
    assert not panel.start_button.isEnabled()
    panel.interface_box.setCurrentIndex(0)
    assert panel.filter_valid and panel.start_button.isEnabled()


def test_an_unsupported_interface_cannot_start(qtbot) -> None:
    interfaces = [Interface("can0", True, False, None, problem="hardware type 280")]
    panel = _panel(qtbot, interfaces)
    assert panel.interface_box.itemText(0) == "can0 (unsupported)"
    assert not panel.start_button.isEnabled()
    assert "hardware type 280" in panel.start_button.toolTip()
