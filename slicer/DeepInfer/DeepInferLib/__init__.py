"""DeepInfer for 3D Slicer: the module's logic, without Qt.

- ``cards``: a model card (JSON) → the widget specs of the GUI, browser rows, the details page.
- ``commands``: the deepinfer command lines (local, or a server's thin client).
- ``process``: a CLI process in the background, its JSON progress lines, cancel.
- ``scene``: MRML nodes ↔ files, results into the scene (needs Slicer's MRML libraries).
- ``logic``: the tasks the widget starts and polls.

Only ``scene`` (and ``logic.Logic.start_run``) needs MRML; nothing here imports Qt.
"""
