"""DeepInfer for 3D Slicer: the module's logic, without Qt.

- ``cards``: a model card (JSON) → the widget specs of the GUI, browser rows, the details page.
- ``commands``: the deepinfer command lines (local, or a server's thin client).
- ``process``: a CLI process in the background, its JSON progress lines, cancel.
- ``scene``: MRML nodes ↔ files, results into the scene (needs Slicer's MRML libraries).
- ``label_statistics``: a labelmap output's per-label statistics → a table node beside its segmentation.
- ``plane_scores``: class scores per plane → table, plot chart, target-plane marker; a row → the slice views.
- ``logic``: the tasks the widget starts and polls.

Only ``scene``, ``label_statistics`` and ``plane_scores`` (and ``logic.Logic.start_run``) need MRML; nothing
here imports Qt.
"""
