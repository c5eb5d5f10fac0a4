"""Streaming inspection: frames → tiles → engine → stitched web probabilities → defect records.

Modules, one job each (data flows one way, see :mod:`edgeinspect.stream.runner`):

- :mod:`~edgeinspect.stream.records`: frozen records (Tile, ProbStrip, Blob, Defect, RunSummary ...).
- :mod:`~edgeinspect.stream.tiler`: frames → overlapping engine tiles; tile-rate arithmetic.
- :mod:`~edgeinspect.stream.stitcher`: tile probabilities → full-width web strips.
- :mod:`~edgeinspect.stream.tracker`: connected defects across frames and tiles, one per defect.
- :mod:`~edgeinspect.stream.area`: camera calibration YAML, areas in mm², verdicts.
- :mod:`~edgeinspect.stream.queueing`: the bounded queue that drops (and counts) frames.
- :mod:`~edgeinspect.stream.sinks`: defects.jsonl/.csv, overlays, mask PNGs, truth, summary.
- :mod:`~edgeinspect.stream.runner`: the threads, the ExitStack, signals: ``run_inspection``.
- :mod:`~edgeinspect.stream.score`: a finished run scored against its truth (``eval --run``).

No torch here.
"""

from edgeinspect.stream.tiler import required_tiles_per_s, tiles_per_frame

__all__ = ["required_tiles_per_s", "tiles_per_frame"]
