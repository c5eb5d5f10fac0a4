"""``open_source(spec)``: one string names where frames come from.

Specs:

- ``sim`` or ``sim:TEXTURE`` — the synthetic web (:class:`~edgeinspect.acquire.synthetic.SimSource`);
- ``genicam`` or ``genicam:ID`` — a GenICam camera (:class:`~edgeinspect.acquire.genicam.GenICamSource`);
  ID is a serial number, model, user-defined name or index;
- ``replay:PATH`` — image files as a web (:class:`~edgeinspect.acquire.replay.ReplaySource`).

Options that do not apply to the chosen source are ignored when None and rejected otherwise (so a
``--camera`` given with ``sim`` is not silently dropped).

Example:
    >>> with open_source("genicam:SN_InterfaceA_0", cti=tlsimu_cti(), camera="calib/cameras/line3.yaml") as src:
    ...     for frame in src: ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeinspect.acquire.base import SourceBase
from edgeinspect.acquire.camera_config import CameraConfig
from edgeinspect.errors import EdgeInspectError

SPEC_FORMS = "sim, sim:TEXTURE, genicam, genicam:ID, replay:PATH"


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"genicam:SN1"`` → ``("genicam", "SN1")``; ``"sim"`` → ``("sim", None)``.

    Raises:
        EdgeInspectError: Unknown kind, or ``replay`` without a path.
    """
    kind, sep, arg = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in ("sim", "genicam", "replay"):
        raise EdgeInspectError(f"unknown frame source '{spec}'; use one of: {SPEC_FORMS}")
    arg = arg.strip() if sep else None
    if kind == "replay" and not arg:
        raise EdgeInspectError(f"frame source '{spec}' needs a path: replay:PATH (an image or a folder of images)")
    return kind, (arg or None)


#: How ``open_source`` keywords are spelled where a user gives them (CLI option / run YAML key).
OPTION_SHOWN_AS = {"camera": "--camera-config / camera_config", "cti": "--cti / source_options.cti",
                   "width": "--width-px / source_options.width"}


def open_source(spec: str, *, width: int | None = None, lines_per_frame: int | None = None,
                line_rate_hz: float | None = None, max_frames: int | None = None,
                camera: CameraConfig | Path | str | None = None, cti: Path | str | None = None,
                fetch_timeout_s: float | None = None, seed: int = 0, texture: str | None = None,
                bit_depth: int | None = None, loops: int | None = 1, defects_per_mpx: float | None = None,
                **options: Any) -> SourceBase:
    """Create and open the frame source ``spec`` names.

    Args:
        spec: See the module docstring.
        width: Pixels per line (sim; genicam: overrides the camera config's Width).
        lines_per_frame: Lines per frame (sim, replay; genicam: overrides Height).
        line_rate_hz: Pacing (sim, replay; None = as fast as possible); genicam: overrides
            AcquisitionLineRate.
        max_frames: Stop after this many frames (None = endless / until the files end).
        camera: genicam: camera config or YAML path.
        cti: genicam: GenTL producer file.
        fetch_timeout_s: genicam: fetch timeout.
        seed: sim: web seed.
        texture: sim: web texture (also ``sim:TEXTURE``).
        bit_depth: sim: 8 or 12; replay: significant bits of 16-bit files.
        loops: replay: plays (None = endless).
        defects_per_mpx: sim: candidate defects per megapixel of web (default 20; a production web
            is far cleaner).
        **options: Passed on to the source class (e.g. ``defects_per_mpx`` for sim,
            ``reconnect_attempts`` for genicam).

    Returns:
        The open source (a context manager and iterator of Frame; entering it again is a no-op).

    Raises:
        EdgeInspectError: Bad spec, an option the source does not take, or the source cannot open.
    """
    kind, arg = parse_spec(spec)

    def reject(**given: Any) -> None:
        for name, value in given.items():
            if value is not None:
                shown = OPTION_SHOWN_AS.get(name, name)
                raise EdgeInspectError(f"option '{shown}' does not apply to frame source '{spec}'")

    if kind == "sim":
        reject(camera=camera, cti=cti, fetch_timeout_s=fetch_timeout_s)
        from edgeinspect.acquire.synthetic import SimSource

        sim_kwargs: dict[str, Any] = {}
        if width is not None:
            sim_kwargs["width"] = width
        if lines_per_frame is not None:
            sim_kwargs["lines_per_frame"] = lines_per_frame
        if defects_per_mpx is not None:
            sim_kwargs["defects_per_mpx"] = defects_per_mpx
        source: SourceBase = SimSource(**sim_kwargs, texture=texture or arg or "carbon", seed=seed,
                                       bit_depth=bit_depth or 8, line_rate_hz=line_rate_hz,
                                       max_frames=max_frames, **options)
    elif kind == "replay":
        reject(camera=camera, cti=cti, fetch_timeout_s=fetch_timeout_s, width=width, texture=texture,
               defects_per_mpx=defects_per_mpx)
        from edgeinspect.acquire.replay import ReplaySource

        source = ReplaySource(Path(arg), lines_per_frame=lines_per_frame, line_rate_hz=line_rate_hz,
                              loops=loops, bit_depth=bit_depth, max_frames=max_frames, **options)
    else:
        reject(texture=texture, bit_depth=bit_depth, defects_per_mpx=defects_per_mpx)
        from dataclasses import replace

        from edgeinspect.acquire.camera_config import load_camera_config
        from edgeinspect.acquire.genicam import GenICamSource

        config = camera if isinstance(camera, CameraConfig) else (
            load_camera_config(camera) if camera is not None else CameraConfig())
        overrides = {key: value for key, value in (("width", width), ("lines_per_frame", lines_per_frame),
                                                   ("line_rate_hz", line_rate_hz)) if value is not None}
        if overrides:
            config = replace(config, **overrides)
        source = GenICamSource(arg, camera=config, cti=cti, fetch_timeout_s=fetch_timeout_s,
                               max_frames=max_frames, **options)
    try:
        return source.open()
    except BaseException:
        source.close()
        raise
