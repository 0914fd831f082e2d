"""The chat controller: what a typed request does in Slicer, through the same calls as the buttons.

``SpinalSAMR1Lib.commands.executor.execute_all`` validates every action of a message against the
contract, then ``SpinalSAMR1Lib.slicer_support.executor.SlicerActionExecutor`` calls one method here
per action; each returns the reply shown in the chat history. Text is parsed offline,
or by the LLM on the chat worker thread when it is switched on (with the offline rules as fallback).
"""

from __future__ import annotations

import qt
import slicer
from slicer.i18n import tr as _

from SpinalSAMR1Lib.commands import llm, parse
from SpinalSAMR1Lib.commands.executor import SchemaError, execute_all
from SpinalSAMR1Lib.errors import UserError
from SpinalSAMR1Lib.slicer_support import Job, load_llm_settings, store_llm_fields, stored_llm_fields
from SpinalSAMR1Lib.slicer_support.executor import SlicerActionExecutor

from . import nodes, segments, views
from .widget_part import WidgetPart


class ChatController(WidgetPart):
    """Drives the module's widget (``widget``: its parameter node, ui, logic and job runner)."""

    def __init__(self, widget) -> None:
        super().__init__(widget)
        self.placing = None  # (node, remaining count, level) while the chat places points
        self._llmParser = None  # (LLMSettings, LLMParser), reused while the settings stay the same
        self._loadingSettings = False

    # -- text in, actions out ------------------------------------------------------------------------
    def send(self, text: str) -> None:
        """Parse one message (offline, or with the LLM on the chat thread) and run its actions."""
        self._append(_("You"), text)
        store = qt.QSettings()
        if not stored_llm_fields(store)["enabled"]:
            self.runActions(self._parseOffline(text))
            return
        try:
            settings = load_llm_settings(store)
        except UserError as exc:  # a bad SPINALSAM_LLM_* variable: say so, answer offline
            self._append(_("Assistant"), _("(offline rules: {why})").format(why=exc))
            self.runActions(self._parseOffline(text))
            return
        self.widget.jobs.submit(
            "chat",
            Job(
                fn=lambda job: self._parseWithLlm(text, settings),
                on_done=lambda reply: self._onLlmReply(reply, settings),
                on_error=lambda exc: self._onLlmError(exc, text),
                label="chat",
            ),
        )

    @staticmethod
    def _parseOffline(text: str) -> list:
        return parse(text)

    def _parseWithLlm(self, text: str, settings: llm.LLMSettings) -> llm.LLMResult:
        """Runs on the chat worker thread; never raises (the command layer falls back to offline rules)."""
        if self._llmParser is None or self._llmParser[0] != settings:
            self._llmParser = (settings, llm.LLMParser(settings))
        return self._llmParser[1].parse(text)

    def _onLlmReply(self, result: llm.LLMResult, settings: llm.LLMSettings) -> None:
        if result.backend != "llm":
            self._append(_("Assistant"), _("(offline rules: {why})").format(why=result.error or "no LLM"))
        elif settings.show_reasoning and result.reasoning:  # hidden by default
            self._append(_("Reasoning"), result.reasoning.strip())
        self.runActions(result.actions)

    def _onLlmError(self, exc: BaseException, text: str) -> None:
        self._append(
            _("Assistant"),
            _("The LLM did not answer ({error}); using the offline parser.").format(error=type(exc).__name__),
        )
        self.runActions(self._parseOffline(text))

    def runActions(self, actions: list) -> list[str]:
        try:
            replies = execute_all(SlicerActionExecutor(self), actions)
        except SchemaError as exc:  # nothing ran: a list with an invalid action runs none of it
            replies = [_("Could not run that: {error}").format(error=exc)]
        for reply in replies:
            self._append(_("Assistant"), reply)
        self.widget.updateButtons()
        return replies

    def _append(self, who: str, text: str) -> None:
        self._ui.chatHistory.appendPlainText(f"{who}: {text}")

    # -- LLM settings: Qt settings only, never the scene or the log ---------------------------------------
    def loadSettings(self) -> None:
        s = stored_llm_fields(qt.QSettings())  # as typed: an empty field shows that the default is used
        self._loadingSettings = True  # the checkboxes' toggled() must not save half-loaded values
        try:
            self._ui.llmEnabledCheckBox.checked = s["enabled"]
            self._ui.llmBaseUrlLineEdit.text = s["base_url"]
            self._ui.llmModelLineEdit.text = s["model"]
            self._ui.llmApiKeyLineEdit.text = s["api_key"]
            self._ui.showReasoningCheckBox.checked = s["show_reasoning"]
        finally:
            self._loadingSettings = False

    def saveSettings(self, *args) -> None:
        if self._loadingSettings:
            return
        store_llm_fields(
            qt.QSettings(),
            enabled=self._ui.llmEnabledCheckBox.checked,
            base_url=self._ui.llmBaseUrlLineEdit.text.strip(),
            model=self._ui.llmModelLineEdit.text.strip(),
            api_key=self._ui.llmApiKeyLineEdit.text.strip(),
            show_reasoning=self._ui.showReasoningCheckBox.checked,
        )

    # -- the executor's Controller protocol ------------------------------------------------------------
    def loadVolume(self, path: str | None) -> str:
        if not path:
            opened = slicer.util.openAddVolumeDialog()
            return _("Opened the Add Data dialog.") if opened else _("No volume loaded.")
        try:
            volumeNode = slicer.util.loadVolume(path)
        except Exception as exc:  # Slicer raises RuntimeError with the reader's message
            raise UserError(f"could not load {path}: {exc}") from exc
        self._pn.inputVolume = volumeNode
        return _("Loaded {name}.").format(name=volumeNode.GetName())

    def startPlacing(self, kind: str, count: int, level: str | None) -> str:
        pn = self._pn
        node = {"positive": pn.positivePoints, "negative": pn.negativePoints, "box": pn.roi}[kind]
        placeWidget = {
            "positive": self._ui.positivePlaceWidget,
            "negative": self._ui.negativePlaceWidget,
            "box": self._ui.roiPlaceWidget,
        }[kind]
        if kind == "box" and nodes.roiCornersWorld(node) is not None:
            self._logic.clearPrompts([node], "replace box")  # an ROI holds one box: placing anew replaces it
        if level and not pn.segmentName:
            pn.segmentName = level
        self.placing = (node, count, level) if kind != "box" else None
        placeWidget.setCurrentNode(node)
        placeWidget.setPlaceModePersistency(count > 1)  # stays on until `count` points are placed
        placeWidget.setPlaceModeEnabled(True)
        what = _("a box") if kind == "box" else _("{n} {kind} point(s)").format(n=count, kind=kind)
        where = f" on {level}" if level else ""
        return _("Click in a slice view to place {what}{where}.").format(what=what, where=where)

    def onPointPlaced(self, node) -> None:
        """A point was placed in the node the chat asked for: label it with the level, count down."""
        target, remaining, level = self.placing
        if level:
            node.SetNthControlPointLabel(node.GetNumberOfControlPoints() - 1, level)
        remaining -= 1
        self.placing = (target, remaining, level) if remaining > 0 else None
        if remaining <= 0:
            slicer.app.applicationLogic().GetInteractionNode().SwitchToViewTransformMode()

    def segment(self, prompt: str, scope: str, view: str | None, levels: list) -> str:
        w = self.widget
        if view is not None:
            self.setView(view)
        if levels:  # the contract: named levels run the level-by-level workflow, whatever the scope
            if not w.segmenter.levels(levels):
                return self._ui.statusLabel.text
            return _("Segmenting {levels} level by level...").format(
                levels=levels[0] if len(levels) == 1 else f"{levels[0]}-{levels[-1]}"
            )
        use = {"points": "points", "box": "box"}.get(prompt, "auto")
        if not (w.segmenter.volume if scope == "volume" else w.segmenter.slice)(use, view):
            return self._ui.statusLabel.text
        return _("Segmenting the {scope} ({view})...").format(scope=scope, view=view or w.currentView())

    def clear(self, target: str) -> str:
        """Clear points, boxes, the mask or all (the contract's targets) or "prompts" (points and boxes)."""
        pn, logic = self._pn, self._logic
        done = []
        if target in ("points", "prompts", "all") and logic.clearPrompts(
            [pn.positivePoints, pn.negativePoints], "clear points"
        ):
            done.append(_("points"))
        if target in ("boxes", "prompts", "all") and logic.clearPrompts([pn.roi], "clear box"):
            done.append(_("box"))
        if target in ("mask", "all") and pn.outputSegmentation and pn.inputVolume:
            segmentId = self.currentSegmentId()
            if segmentId and logic.clearSegment(pn.outputSegmentation, segmentId, pn.inputVolume):
                done.append(_("mask"))
        self.widget.updateButtons()
        if not done:
            return _("Nothing to clear.")
        return _("Cleared {what} (undo restores).").format(what=", ".join(done))

    def currentSegmentId(self) -> str:
        """The output's segment of the segment name (default "Spine"), else its last segment."""
        segmentation = self._pn.outputSegmentation.GetSegmentation()
        name = self._pn.segmentName or "Spine"
        return segmentation.GetSegmentIdBySegmentName(name) or segmentation.GetNthSegmentID(
            segmentation.GetNumberOfSegments() - 1
        )

    def navigate(self, steps: int) -> str:
        sliceNode, view = self.widget.sliceNode(), self.widget.currentView()
        if self._pn.inputVolume is None or sliceNode is None:
            raise UserError("no volume or slice view to move")
        shown = views.stepSlices(sliceNode, self._pn.inputVolume, view, steps)
        return _("{view} slice {index}.").format(view=view.capitalize(), index=shown)

    def setView(self, view: str) -> str:
        name = views.showView(view, self._pn.sliceView)
        if not name:
            return _("Showing the 3D view.")
        self._pn.sliceView = name
        return _("Showing the {view} view ({name}).").format(view=view, name=name)

    def setWindow(self, preset: str) -> str:
        if self._pn.inputVolume is None:
            raise UserError("no volume selected")
        views.setWindow(self._pn.inputVolume, preset)
        return _("{preset} window.").format(preset=preset.replace("_", " ").capitalize())

    def deviceStatus(self) -> dict:
        self._logic.ensureDependencies()
        from SpinalSAMR1Lib.model import device_status

        return device_status()

    def verifyModel(self) -> str:
        logic = self._logic
        logic.ensureDependencies()
        self.widget.syncModel()
        key = logic.modelKey()
        self.widget.jobs.submit(
            "inference",
            Job(
                fn=lambda job: logic.verifyModel(key),
                on_done=lambda report: self._append(_("Assistant"), _formatVerify(key, report)),
                on_error=lambda exc: self._append(
                    _("Assistant"), _("Verification failed: {e}").format(e=exc)
                ),
                label="verify",
            ),
        )
        return _("Checking the {model} model's parameters...").format(model=key[0])

    def undo(self) -> str:
        label = self._logic.undo()
        self.widget.updateButtons()
        return _("Undid: {label}.").format(label=label) if label else _("Nothing to undo.")

    def redo(self) -> str:
        label = self._logic.redo()
        self.widget.updateButtons()
        return _("Redid: {label}.").format(label=label) if label else _("Nothing to redo.")

    def save(self, path: str | None) -> str:
        pn = self._pn
        if pn.outputSegmentation is None:
            raise UserError("there is no segmentation to save yet")
        if not path:
            path = qt.QFileDialog.getSaveFileName(
                None, _("Save segmentation"), "", "NIfTI (*.nii.gz);;Segmentation (*.seg.nrrd)"
            )
            if not path:
                return _("Not saved.")
        saved = segments.saveSegmentation(pn.outputSegmentation, path, pn.inputVolume)
        return _("Saved {path}.").format(path=saved)

    def spineReport(self, levels: list[str]) -> str:
        pn = self._pn
        if pn.outputSegmentation is None or pn.inputVolume is None:
            return _("Segment and name some vertebrae first.")
        from SpinalSAMR1Lib.report import format_table

        return format_table(self._logic.spineReport(pn.outputSegmentation, pn.inputVolume, tuple(levels)))

    def nameLevel(self, level: str) -> str:
        pn = self._pn
        if pn.outputSegmentation is None or pn.inputVolume is None:
            return _("Segment a vertebra first.")
        edit = self._logic.nameLevel(pn.outputSegmentation, self.currentSegmentId(), level, pn.inputVolume)
        self.widget.updateButtons()
        if edit is None:
            return _("The vertebrae already have these names.")
        names = ", ".join(change.after for change in edit.changes)
        return _("Named {names} (undo reverts it).").format(names=names)

    def metrics(self):
        pn = self._pn
        if pn.referenceSegmentation is None:
            return _("Choose a reference segmentation in Output > Reference first.")
        if pn.outputSegmentation is None or pn.inputVolume is None:
            return _("Segment something first.")
        return self._logic.metrics(
            pn.outputSegmentation, self.currentSegmentId(), pn.referenceSegmentation, pn.inputVolume
        )


def _formatVerify(key: tuple, report: dict) -> str:
    interesting = {k: v for k, v in report.items() if not isinstance(v, (list, dict)) or not v}
    problems = {k: len(v) for k, v in report.items() if isinstance(v, (list, dict)) and v}
    summary = ", ".join(f"{k}: {v}" for k, v in {**interesting, **problems}.items())
    return _("Model {model}: {summary}").format(model=key[0], summary=summary)
