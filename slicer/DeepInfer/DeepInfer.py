"""DeepInfer: browse a model registry, pull verified models and run them on scene nodes — in 3D Slicer.

The widget only wires Qt to ``DeepInferLib`` (no Qt there): the registry browser, the details page and the
Run form come from the model card; every deepinfer call runs as a separate process that a timer polls, so the
GUI never blocks; results arrive as segmentation, volume and table nodes with the run's provenance attached.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

import ctk
import qt
import slicer
from DeepInferLib import commands
from DeepInferLib.cards import BROWSER_COLUMNS, ModelForm, details_html
from DeepInferLib.commands import CommandError
from DeepInferLib.label_statistics import statistics_table_of
from DeepInferLib.logic import Logic
from DeepInferLib.plane_scores import is_plane_table, show_plane, show_target_plane
from DeepInferLib.process import Message, Progress, Task
from DeepInferLib.scene import SceneError, segment_names_and_colors
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

SETTINGS = "DeepInfer/"
RESEARCH_ONLY = "For research use only. Not for clinical diagnosis."


class DeepInfer(ScriptedLoadableModule):
    def __init__(self, parent: Any) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "DeepInfer"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = []
        self.parent.contributors = ["DeepInfer contributors"]
        self.parent.helpText = (
            "Browse a registry of medical-imaging models, read each model's license and reported accuracy, "
            "download it (sha256-verified) and run it on a volume in the scene. The form is generated from the "
            "model card. Runs happen in a separate deepinfer process, locally or on a deepinfer server. "
            + RESEARCH_ONLY
        )
        self.parent.acknowledgementText = (
            "DeepInfer was introduced by Mehrtash et al., SPIE Medical Imaging 2017. The models' own authors and "
            "licenses are listed on each model card."
        )


def settings_value(key: str, default: str = "") -> str:
    return str(qt.QSettings().value(SETTINGS + key, default) or "")


class DeepInferLogic(ScriptedLoadableModuleLogic, Logic):
    """The Qt-free :class:`DeepInferLib.logic.Logic`, connected as the module's settings say."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        Logic.__init__(self, work_root=None)

    def configure(self, executable: str = "", server_url: str = "", token: str = "") -> None:
        self.connection = commands.make_connection(
            executable or None,
            server_url or None,
            token or None,
            python=shutil.which("PythonSlicer"),
            startup_env=slicer.util.startupEnvironment(),
        )


class DeepInferWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Wiring only: Qt widgets ↔ DeepInferLib specs, tasks polled by a timer."""

    def __init__(self, parent: Any = None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = DeepInferLogic()
        self.tasks: dict[str, tuple[Task, Any]] = {}
        self.form: ModelForm | None = None
        self.model_id: str | None = None
        self.inputSelectors: dict[str, Any] = {}
        self.outputSelectors: dict[str, Any] = {}
        self.parameterWidgets: dict[str, tuple[str, Any]] = {}
        self.timer = qt.QTimer()
        self.timer.setInterval(100)
        self.timer.connect("timeout()", self.pollTasks)

        self._setupConnection()
        self._setupBrowser()
        self._setupDetails()
        self._setupRun()
        self._setupResults()
        self._setupStatus()
        self.layout.addStretch(1)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.onConnectionChanged()

    def cleanup(self) -> None:
        for task, _ in self.tasks.values():
            task.cancel()
        self.timer.stop()
        self.removeObservers()

    # ------------------------------------------------------------------------------------------ sections

    def _section(self, title: str, collapsed: bool = False) -> Any:
        button = ctk.ctkCollapsibleButton()
        button.text = title
        button.collapsed = collapsed
        self.layout.addWidget(button)
        return button

    def _setupConnection(self) -> None:
        layout = qt.QFormLayout(self._section("Connection", collapsed=True))
        self.modeCombo = qt.QComboBox()
        self.modeCombo.addItems(["Local (this computer)", "Server (thin client)"])
        self.modeCombo.currentIndex = 1 if settings_value("Mode") == "server" else 0
        self.executableEdit = ctk.ctkPathLineEdit()
        self.executableEdit.filters = ctk.ctkPathLineEdit.Files | ctk.ctkPathLineEdit.Executable
        self.executableEdit.currentPath = settings_value("Executable")
        self.executableEdit.toolTip = (
            "A deepinfer executable (e.g. from a virtual environment). Empty: deepinfer installed in Slicer's "
            "Python, else deepinfer on PATH."
        )
        self.serverEdit = qt.QLineEdit(settings_value("ServerURL"))
        self.serverEdit.placeholderText = "https://host:port"
        self.tokenEdit = qt.QLineEdit()
        self.tokenEdit.echoMode = qt.QLineEdit.Password
        self.tokenEdit.toolTip = "Access token of the server (kept for this session only; passed in the environment)."
        applyButton = qt.QPushButton("Apply and refresh")
        layout.addRow("Mode:", self.modeCombo)
        layout.addRow("deepinfer executable:", self.executableEdit)
        layout.addRow("Server URL:", self.serverEdit)
        layout.addRow("Token:", self.tokenEdit)
        layout.addRow(applyButton)
        self.modeCombo.connect("currentIndexChanged(int)", self.onModeChanged)
        applyButton.connect("clicked()", self.onConnectionChanged)
        self.onModeChanged()

    def _setupBrowser(self) -> None:
        layout = qt.QVBoxLayout(self._section("Models"))
        row = qt.QHBoxLayout()
        self.searchEdit = qt.QLineEdit()
        self.searchEdit.placeholderText = "Search by name, anatomy, modality, task or tag"
        self.refreshButton = qt.QPushButton("Refresh")
        row.addWidget(self.searchEdit)
        row.addWidget(self.refreshButton)
        layout.addLayout(row)
        self.modelTable = qt.QTableWidget(0, len(BROWSER_COLUMNS))
        self.modelTable.setHorizontalHeaderLabels(list(BROWSER_COLUMNS))
        self.modelTable.horizontalHeader().setStretchLastSection(True)
        self.modelTable.verticalHeader().visible = False
        self.modelTable.selectionBehavior = qt.QAbstractItemView.SelectRows
        self.modelTable.selectionMode = qt.QAbstractItemView.SingleSelection
        self.modelTable.editTriggers = qt.QAbstractItemView.NoEditTriggers
        layout.addWidget(self.modelTable)
        self.searchEdit.connect("textChanged(QString)", self.fillModelTable)
        self.refreshButton.connect("clicked()", self.refresh)
        self.modelTable.connect("itemSelectionChanged()", self.onModelSelected)

    def _setupDetails(self) -> None:
        layout = qt.QVBoxLayout(self._section("Model details"))
        self.detailsBrowser = qt.QTextBrowser()
        self.detailsBrowser.openExternalLinks = True
        self.detailsBrowser.setHtml("<p>Select a model to read its description, license and accuracy.</p>")
        self.pullButton = qt.QPushButton("Download model")
        self.pullButton.enabled = False
        self.pullButton.toolTip = "Fetch the model's artifacts into the local cache and verify their sha256."
        layout.addWidget(self.detailsBrowser)
        layout.addWidget(self.pullButton)
        self.pullButton.connect("clicked()", self.onPull)

    def _setupRun(self) -> None:
        section = self._section("Run")
        layout = qt.QVBoxLayout(section)
        self.formFrame = qt.QWidget()
        self.formLayout = qt.QFormLayout(self.formFrame)
        layout.addWidget(self.formFrame)
        buttons = qt.QHBoxLayout()
        self.defaultsButton = qt.QPushButton("Defaults")
        self.runButton = qt.QPushButton("Run")
        self.runButton.enabled = False
        buttons.addWidget(self.defaultsButton)
        buttons.addWidget(self.runButton)
        layout.addLayout(buttons)
        self.defaultsButton.connect("clicked()", self.onDefaults)
        self.runButton.connect("clicked()", self.onRun)

    def _setupResults(self) -> None:
        layout = qt.QVBoxLayout(self._section("Result tables", collapsed=True))
        self.resultSelector = slicer.qMRMLNodeComboBox()
        self.resultSelector.nodeTypes = ["vtkMRMLTableNode"]
        self.resultSelector.noneEnabled = True
        self.resultSelector.addEnabled = False
        self.resultSelector.removeEnabled = False
        self.resultSelector.toolTip = "Label statistics and class scores per plane; select a plane's row to show it."
        self.resultSelector.setMRMLScene(slicer.mrmlScene)
        self.resultView = slicer.qMRMLTableView()
        self.resultView.setMRMLScene(slicer.mrmlScene)
        self.resultView.setMinimumHeight(180)
        layout.addWidget(self.resultSelector)
        layout.addWidget(self.resultView)
        self.resultSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.resultView.setMRMLTableNode)
        self.resultView.connect("selectionChanged()", self.onResultRowSelected)

    def _setupStatus(self) -> None:
        layout = qt.QVBoxLayout(self._section("Status"))
        row = qt.QHBoxLayout()
        self.progressBar = qt.QProgressBar()
        self.progressBar.setRange(0, 1000)
        self.progressBar.value = 0
        self.cancelButton = qt.QPushButton("Cancel")
        self.cancelButton.enabled = False
        row.addWidget(self.progressBar)
        row.addWidget(self.cancelButton)
        layout.addLayout(row)
        self.statusLabel = qt.QLabel(RESEARCH_ONLY)
        self.statusLabel.wordWrap = True
        self.statusLabel.setTextInteractionFlags(qt.Qt.TextSelectableByMouse)
        layout.addWidget(self.statusLabel)
        self.logView = qt.QPlainTextEdit()
        self.logView.readOnly = True
        self.logView.maximumBlockCount = 2000
        logBox = ctk.ctkCollapsibleGroupBox()
        logBox.title = "deepinfer messages"
        logBox.collapsed = True
        qt.QVBoxLayout(logBox).addWidget(self.logView)
        layout.addWidget(logBox)
        self.cancelButton.connect("clicked()", self.onCancel)

    # ---------------------------------------------------------------------------------------- connection

    def onModeChanged(self) -> None:
        server = self.modeCombo.currentIndex == 1
        self.serverEdit.enabled = server
        self.tokenEdit.enabled = server

    def onConnectionChanged(self) -> None:
        server = self.modeCombo.currentIndex == 1
        settings = qt.QSettings()
        settings.setValue(SETTINGS + "Mode", "server" if server else "local")
        settings.setValue(SETTINGS + "Executable", self.executableEdit.currentPath)
        settings.setValue(SETTINGS + "ServerURL", self.serverEdit.text)
        try:
            self.logic.configure(
                self.executableEdit.currentPath, self.serverEdit.text if server else "", self.tokenEdit.text
            )
        except CommandError as error:
            self.showError(str(error))
            return
        self.refresh()

    # ------------------------------------------------------------------------------------------- browser

    def refresh(self) -> None:
        self.startTask("models", self.logic.start_list_models, lambda task: self.fillModelTable())
        self.startTask("cache", self.logic.start_list_cache, lambda task: self.fillModelTable())

    def fillModelTable(self, *unused: Any) -> None:
        rows = self.logic.rows(self.searchEdit.text)
        self.modelTable.blockSignals(True)
        self.modelTable.setRowCount(len(rows))
        for index, row in enumerate(rows):
            for column, text in enumerate(row.cells()):
                item = qt.QTableWidgetItem(text)
                item.setData(qt.Qt.UserRole, row.model_id)
                self.modelTable.setItem(index, column, item)
            if row.model_id == self.model_id:
                self.modelTable.selectRow(index)
        self.modelTable.blockSignals(False)
        self.modelTable.resizeColumnsToContents()

    def selectedModel(self) -> str | None:
        items = self.modelTable.selectedItems()
        return items[0].data(qt.Qt.UserRole) if items else None

    def onModelSelected(self) -> None:
        model_id = self.selectedModel()
        if model_id is None or model_id == self.model_id:
            return
        self.model_id = model_id
        if model_id in self.logic.cards:
            self.showModel(model_id)
        else:
            self.detailsBrowser.setHtml("<p>Loading the model card…</p>")
            self.startTask("show", lambda: self.logic.start_show(model_id), lambda task: self.showModel(model_id))

    def showModel(self, model_id: str) -> None:
        if model_id != self.model_id:
            return
        installed = self.logic.installed(model_id)
        self.detailsBrowser.setHtml(details_html(self.logic.cards[model_id], installed))
        self.pullButton.enabled = "pull" not in self.tasks
        self.pullButton.text = "Download again (verify)" if installed else "Download model"
        self.buildForm(self.logic.form(model_id))

    def onPull(self) -> None:
        model_id = self.model_id
        if model_id is None:
            return
        self.pullButton.enabled = False
        self.startTask("pull", lambda: self.logic.start_pull(model_id), lambda task: self.afterPull(model_id))

    def afterPull(self, model_id: str) -> None:
        self.pullButton.enabled = True
        self.startTask("cache", self.logic.start_list_cache, lambda task: self.showModel(model_id))

    # ---------------------------------------------------------------------------------------------- form

    def buildForm(self, form: ModelForm) -> None:
        while self.formLayout.rowCount() > 0:
            self.formLayout.removeRow(0)
        self.form = form
        self.inputSelectors, self.outputSelectors, self.parameterWidgets = {}, {}, {}
        for spec in form.inputs:
            selector = self._nodeSelector(spec, output=False)
            self.inputSelectors[spec.name] = selector
            self.formLayout.addRow(f"{spec.label}:", selector)
        for spec in form.outputs:
            selector = self._nodeSelector(spec, output=True)
            self.outputSelectors[spec.name] = selector
            self.formLayout.addRow(f"{spec.label}:", selector)
        for spec in form.parameters:
            widget = self._parameterWidget(spec)
            self.parameterWidgets[spec.name] = (spec.widget, widget)
            self.formLayout.addRow(f"{spec.label}:", widget)
        for problem in form.problems:
            label = qt.QLabel(problem)
            label.wordWrap = True
            self.formLayout.addRow(label)
        self.updateRunButton()

    def _nodeSelector(self, spec: Any, output: bool) -> Any:
        selector = slicer.qMRMLNodeComboBox()
        selector.nodeTypes = list(spec.node_types)
        selector.showChildNodeTypes = spec.show_child_node_types
        selector.noneEnabled = output or not spec.required
        selector.addEnabled = output
        selector.renameEnabled = output
        selector.removeEnabled = False
        selector.selectNodeUponCreation = True
        if output:
            selector.noneDisplay = "(create new)"
        selector.toolTip = spec.tooltip
        selector.setMRMLScene(slicer.mrmlScene)
        selector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateRunButton)
        return selector

    def _parameterWidget(self, spec: Any) -> Any:
        if spec.widget == "combo":
            widget = qt.QComboBox()
            widget.addItems(list(spec.choices))
        elif spec.widget == "check":
            widget = qt.QCheckBox()
        elif spec.widget == "int":
            widget = qt.QSpinBox()
            widget.setRange(int(spec.minimum), int(spec.maximum))
        elif spec.widget == "float":
            widget = ctk.ctkDoubleSpinBox()
            widget.decimals = spec.decimals
            widget.setRange(spec.minimum, spec.maximum)
            widget.singleStep = spec.single_step
        else:
            widget = qt.QLineEdit()
        widget.toolTip = spec.tooltip
        self._setValue(spec.widget, widget, spec.default)
        return widget

    @staticmethod
    def _setValue(kind: str, widget: Any, value: Any) -> None:
        if kind == "combo":
            widget.currentIndex = max(widget.findText(str(value)), 0)
        elif kind == "check":
            widget.checked = bool(value)
        elif kind in {"int", "float"}:
            widget.value = value
        else:
            widget.text = str(value)

    @staticmethod
    def _value(kind: str, widget: Any) -> Any:
        return {
            "combo": lambda: widget.currentText,
            "check": lambda: widget.checked,
            "int": lambda: widget.value,
            "float": lambda: widget.value,
        }.get(kind, lambda: widget.text)()

    def onDefaults(self) -> None:
        if self.form is None:
            return
        for spec in self.form.parameters:
            kind, widget = self.parameterWidgets[spec.name]
            self._setValue(kind, widget, spec.default)

    def updateRunButton(self, *unused: Any) -> None:
        form = self.form
        ready = form is not None and form.runnable and "run" not in self.tasks
        if form is not None:
            ready = ready and all(
                self.inputSelectors[s.name].currentNode() is not None for s in form.inputs if s.required
            )
        self.runButton.enabled = bool(ready)

    # ----------------------------------------------------------------------------------------------- run

    def onRun(self) -> None:
        form = self.form
        if form is None:
            return
        inputs = {name: selector.currentNode() for name, selector in self.inputSelectors.items()}
        targets = {name: selector.currentNode() for name, selector in self.outputSelectors.items()}
        values = {name: self._value(kind, widget) for name, (kind, widget) in self.parameterWidgets.items()}
        started = self.startTask(
            "run",
            lambda: self.logic.start_run(slicer.mrmlScene, form, inputs, values, targets),
            self.afterRun,
        )
        if started:
            self.statusLabel.text = f"Running {form.ref}…"
            self.updateRunButton()

    def afterRun(self, task: Task) -> None:
        self.updateRunButton()
        result = task.result
        inputs = [selector.currentNode() for selector in self.inputSelectors.values()]
        for name, node in result.nodes.items():
            if name in self.outputSelectors:
                self.outputSelectors[name].setCurrentNode(node)
            if node.IsA("vtkMRMLSegmentationNode"):
                node.CreateClosedSurfaceRepresentation()
                segments = ", ".join(n for n, _ in segment_names_and_colors(node))
                self.log(f"{node.GetName()}: segments {segments}")
                self.showResultTable(statistics_table_of(node))
        if inputs and inputs[0] is not None:
            slicer.util.setSliceViewerLayers(background=inputs[0], fit=True)
        for node in result.nodes.values():
            if is_plane_table(node):
                self.showPlaneScores(node)
        notes = "".join(f"\n{note}" for note in result.notes)
        self.statusLabel.text = f"Finished in {result.seconds:.1f} s. {RESEARCH_ONLY}{notes}"

    def showResultTable(self, table: Any) -> None:
        if table is not None:
            self.resultSelector.setCurrentNode(table)
            self.resultSelector.parentWidget().collapsed = False

    def showPlaneScores(self, table: Any) -> None:
        """The scores table, its chart in the layout, the slice views at the target plane."""
        self.showResultTable(table)
        chart = show_target_plane(slicer.mrmlScene, table)
        if chart is not None:
            slicer.modules.plots.logic().ShowChartInLayout(chart)

    def onResultRowSelected(self) -> None:
        table = self.resultView.mrmlTableNode()
        index = self.resultView.currentIndex()
        if not is_plane_table(table) or not index.isValid():
            return
        # column names are the header (use_column_headers), so the model's row is the table's row
        row = self.resultView.sortFilterProxyModel().mapToSource(index).row()
        try:
            show_plane(slicer.mrmlScene, table, row)
        except SceneError as error:
            self.showError(str(error))

    def onSceneStartClose(self, caller: Any, event: Any) -> None:
        if "run" in self.tasks:
            self.tasks["run"][0].cancel()

    # --------------------------------------------------------------------------------------------- tasks

    def startTask(self, role: str, start: Any, done: Any) -> bool:
        """Start a background task (one per role) and call ``done(task)`` when it succeeds."""
        if role in self.tasks:
            if role in {"run", "pull"}:
                return False
            self.tasks.pop(role)[0].cancel()
        try:
            task = start()
        except (CommandError, SceneError, OSError) as error:
            self.showError(str(error))
            return False
        self.tasks[role] = (task, done)
        self.log("$ " + commands.quoted(task.process.argv))
        self.cancelButton.enabled = any(r in self.tasks for r in ("run", "pull"))
        self.timer.start()
        return True

    def pollTasks(self) -> None:
        for role, (task, done) in list(self.tasks.items()):
            for event in task.poll():
                if isinstance(event, Progress) and role in {"run", "pull"}:
                    self.showProgress(event)
                elif isinstance(event, Message):
                    self.log(event.text)
            if not task.done:
                continue
            del self.tasks[role]
            if task.error:
                self.showError(task.error)
            else:
                try:
                    done(task)
                except Exception as error:  # a failing import must reach the user, not only the console
                    self.showError(f"{type(error).__name__}: {error}")
            if role in {"run", "pull"}:
                self.progressBar.setRange(0, 1000)
                self.progressBar.value = 0 if task.error else 1000
                self.updateRunButton()
                if role == "pull":
                    self.pullButton.enabled = True
        self.cancelButton.enabled = any(r in self.tasks for r in ("run", "pull"))
        if not self.tasks:
            self.timer.stop()

    def showProgress(self, progress: Progress) -> None:
        fraction = progress.fraction
        if fraction is None:
            self.progressBar.setRange(0, 0)  # busy indicator: the CLI did not give a total
        else:
            self.progressBar.setRange(0, 1000)
            self.progressBar.value = int(fraction * 1000)
        self.statusLabel.text = progress.text()

    def onCancel(self) -> None:
        for role in ("run", "pull"):
            if role in self.tasks:
                self.tasks[role][0].cancel()

    def showError(self, message: str) -> None:
        self.statusLabel.text = message
        self.statusLabel.setStyleSheet("color: #c0392b")
        qt.QTimer.singleShot(15000, lambda: self.statusLabel.setStyleSheet(""))
        self.log("error: " + message)

    def log(self, text: str) -> None:
        self.logView.appendPlainText(text)


class DeepInferTest(ScriptedLoadableModuleTest):
    """Runs a real model on Slicer's MRHead sample through the module logic (needs deepinfer and network)."""

    def setUp(self) -> None:
        slicer.mrmlScene.Clear()

    def runTest(self) -> None:
        self.setUp()
        self.test_run_imports_segmentation_on_input_grid()

    def _wait(self, task: Task, seconds: float = 900) -> Task:
        deadline = time.monotonic() + seconds
        while not task.done:
            task.poll()
            slicer.app.processEvents()  # the GUI keeps running while deepinfer works
            self.assertLess(time.monotonic(), deadline, "deepinfer took too long")
            time.sleep(0.05)
        self.assertEqual(task.error, "")
        return task

    def test_run_imports_segmentation_on_input_grid(self) -> None:
        import SampleData
        import vtk

        self.delayDisplay("Loading MRHead")
        volume = SampleData.downloadSample("MRHead")
        logic = DeepInferLogic()
        logic.configure(os.environ.get("DEEPINFER_EXECUTABLE", ""))
        models = [row["id"] for row in self._wait(logic.start_list_models()).result]
        model_id = "brain-extraction-deepbet" if "brain-extraction-deepbet" in models else "prostate-taps"
        card = self._wait(logic.start_show(model_id)).result
        form = logic.form(model_id)
        self.delayDisplay(f"Running {form.ref}")
        result = self._wait(logic.start_run(slicer.mrmlScene, form, {form.inputs[0].name: volume})).result
        output = next(o for o in card["outputs"] if o["type"] == "labelmap")
        segmentation = result.nodes[output["name"]]
        expected = [(label["name"], label["color"].lower()) for label in output["labels"]]
        self.assertEqual(segment_names_and_colors(segmentation), expected)
        labelmap = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        slicer.modules.segmentations.logic().ExportAllSegmentsToLabelmapNode(
            segmentation, labelmap, slicer.vtkSegmentation.EXTENT_REFERENCE_GEOMETRY
        )
        ours, theirs = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
        labelmap.GetIJKToRASMatrix(ours)
        volume.GetIJKToRASMatrix(theirs)
        for row in range(4):
            for column in range(4):
                self.assertAlmostEqual(ours.GetElement(row, column), theirs.GetElement(row, column), places=6)
        self.assertEqual(labelmap.GetImageData().GetDimensions(), volume.GetImageData().GetDimensions())
        self.assertEqual(segmentation.GetAttribute("DeepInfer.model.id"), model_id)
        self.delayDisplay("Test passed")
