"""``sim``: the synthetic web of :mod:`edgeinspect.data.synth` streamed like a line-scan camera.

Frames are ``lines_per_frame × width`` blocks of one endless, deterministic web (same seed, same
pixels for any line range), each carrying its exact truth mask. With ``line_rate_hz`` set, frame
``k`` is released when its last line would have been scanned (``(k+1)·H / line_rate_hz`` after the
first request, ``time.perf_counter`` clock); ``line_rate_hz=None`` streams as fast as the web
renders. The sim never loses lines: a slow consumer is the stream stage's concern.

Rendering the web costs CPU a real camera does not (its frames arrive by DMA; the host only copies
each buffer out). ``prerender_lines=N`` renders the first ``N`` lines (whole frames) when the source
opens, so streaming them costs one buffer copy per frame, as a camera's would: the pipeline bench
uses it to time the pipeline, not the simulator. The frames, their truth masks and
:meth:`SimSource.truth_defects` are the very same web either way; lines past ``N`` are rendered live.

Example:
    >>> with SimSource(width=512, lines_per_frame=128, texture="fabric", seed=3, max_frames=4) as sim:
    ...     frames = list(sim)
    >>> [f.first_line for f in frames], frames[0].truth_mask.shape
    ([0, 128, 256, 384], (128, 512))
    >>> sim.truth_defects(0, 512)      # every defect touching lines [0, 512)
"""

from __future__ import annotations

import time
from typing import Any

from edgeinspect.acquire.base import Frame, LinePacer, SourceBase
from edgeinspect.errors import EdgeInspectError


class SimSource(SourceBase):
    """Synthetic line-scan web as a :class:`~edgeinspect.acquire.base.FrameSource`.

    Args:
        width: Pixels per line (> 0).
        lines_per_frame: Lines per frame H (> 0).
        texture: One of :data:`edgeinspect.data.synth.TEXTURES`.
        seed: Web seed; same seed, same web.
        bit_depth: 8 (uint8 frames) or 12 (uint16 frames, values 0..4095).
        line_rate_hz: Lines per second to pace at; None = as fast as possible.
        max_frames: Stop after this many frames; None = endless.
        start_line: Web line of the first frame (to resume a web).
        prerender_lines: Lines rendered when the source opens (rounded up to whole frames; 0 =
            none): streaming them is a buffer copy per frame. Memory: ``lines × width`` bytes of
            image (×2 at 12 bit) plus as many of mask.
        **web_options: Passed to ``SyntheticWeb`` (e.g. ``defects_per_mpx``, ``artefacts``).
    """

    def __init__(self, width: int = 2048, lines_per_frame: int = 256, *, texture: str = "carbon",
                 seed: int = 0, bit_depth: int = 8, line_rate_hz: float | None = None,
                 max_frames: int | None = None, start_line: int = 0, prerender_lines: int = 0,
                 **web_options: Any) -> None:
        super().__init__(max_frames=max_frames)
        if width <= 0 or lines_per_frame <= 0:
            raise EdgeInspectError(f"sim: width and lines_per_frame must be > 0, got {width} × {lines_per_frame}")
        if start_line < 0:
            raise EdgeInspectError(f"sim: start_line must be >= 0, got {start_line}")
        if isinstance(prerender_lines, bool) or not isinstance(prerender_lines, int) or prerender_lines < 0:
            raise EdgeInspectError(f"sim: prerender_lines must be an integer >= 0, got {prerender_lines!r}")
        self.name = f"sim:{texture}"
        self.width = int(width)
        self.lines_per_frame = int(lines_per_frame)
        self.bit_depth = int(bit_depth)
        self.texture = texture
        self.seed = seed
        self.line_rate_hz = line_rate_hz
        self._web_options = web_options
        self._start_line = int(start_line)
        self._next_line = int(start_line)
        self._pacer = LinePacer(line_rate_hz, self._stop)
        self._web = None
        self.prerender_lines = prerender_lines
        self._prerendered: dict[int, Any] = {}  # first line -> WebStrip, handed out (and dropped) once

    def _open(self) -> None:
        self._make_web()
        frames = -(-self.prerender_lines // self.lines_per_frame)
        for k in range(frames):
            first = self._start_line + k * self.lines_per_frame
            self._prerendered[first] = self._web.render(first, self.lines_per_frame)

    def _make_web(self) -> None:
        from edgeinspect.data.synth import SyntheticWeb

        try:
            self._web = SyntheticWeb(self.width, texture=self.texture, seed=self.seed,
                                     bit_depth=self.bit_depth, **self._web_options)
        except (ValueError, TypeError) as error:
            raise EdgeInspectError(f"sim: {error}") from None

    def _next_frame(self) -> Frame | None:
        first = self._next_line
        strip = self._prerendered.pop(first, None)
        if strip is not None:  # a camera's cost: copy the buffer out
            image, mask = strip.image.copy(), strip.mask.copy()
        else:
            strip = self._web.render(first, self.lines_per_frame)
            image, mask = strip.image, strip.mask
        self._next_line = first + self.lines_per_frame
        self._pacer.wait_for(self._next_line - self._start_line)
        if self._stop.is_set():
            return None
        return Frame(lines=image, first_line=first, timestamp_ns=time.time_ns(),
                     frame_id=(first - self._start_line) // self.lines_per_frame,
                     bit_depth=self.bit_depth, truth_mask=mask)

    def _close(self) -> None:
        self._prerendered.clear()

    def truth_defects(self, first_line: int, stop_line: int) -> list:
        """Every defect of the web touching lines ``[first_line, stop_line)``.

        Returns:
            ``list[DefectTruth]`` (id, kind, bbox ``(x0, y0, x1, y1)`` exclusive web coordinates,
            area_px), as :meth:`edgeinspect.data.synth.SyntheticWeb.defects` gives them. Works
            before, during and after streaming.
        """
        if self._web is None:
            self._make_web()
        return self._web.defects(first_line, stop_line)
