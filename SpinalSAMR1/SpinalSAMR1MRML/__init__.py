"""What the SpinalSAMR1 module says to MRML, Qt and the chat, kept out of SpinalSAMR1.py.

Everything here needs Slicer (or its test double); everything that does not lives in
``SpinalSAMR1Lib``. One small module per concern:

- ``nodes``: reading volumes, points and ROIs in the volume's RAS (parent transforms honoured).
- ``requests``: a request (voxels, matrix, prompts, names) read from the scene for the worker.
- ``segments``: writing masks into segments (only the changed box), level segments, saving.
- ``edits``: the undo stack applied to the scene (label patches, prompt snapshots, renames).
- ``views``: slice views: which view, which slice, moving through slices, window presets, layouts.
- ``dependencies``: installing torch and the requirements on first use, after asking.
- ``jobs``: the widget's worker threads and the timer that applies their results on the main thread.
- ``segmenting``: the widget's segment requests, their progress, cancelling and status lines.
- ``prefetching``: encoding the shown slice and its neighbours in the background, ahead of a click.
- ``chat``: the chat controller the action executor drives (the same calls as the buttons).
- ``widget_part``: the base of those two, which reach the widget's parameter node, ui and logic.
"""
