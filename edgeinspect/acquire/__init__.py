"""Frame sources: a GenICam camera, the synthetic web, or image files replayed as a web.

Every source is a context manager and an iterator of :class:`Frame` (``(H, W)`` lines with their
web index) and keeps :class:`SourceStats`. No torch here; harvesters/genicam are imported only
when a GenICam source opens.

Example:
    >>> from edgeinspect.acquire import open_source
    >>> with open_source("replay:AITEX/Defect_images", lines_per_frame=256, line_rate_hz=10_000) as source:
    ...     for frame in source:
    ...         ...
    >>> source.stats        # SourceStats(frames=..., lines=..., frames_lost=0, ...)
"""

from edgeinspect.acquire.base import Frame, FrameSource, SourceBase, SourceStats
from edgeinspect.acquire.camera_config import CameraConfig, TriggerConfig, bit_depth_of, load_camera_config
from edgeinspect.acquire.factory import open_source, parse_spec
from edgeinspect.acquire.genicam import GenICamSource, frame_id_gap
from edgeinspect.acquire.gentl import list_devices, tlsimu_cti
from edgeinspect.acquire.nodes import NodeIssue
from edgeinspect.acquire.replay import ReplaySource
from edgeinspect.acquire.synthetic import SimSource

__all__ = [
    "CameraConfig",
    "Frame",
    "FrameSource",
    "GenICamSource",
    "NodeIssue",
    "ReplaySource",
    "SimSource",
    "SourceBase",
    "SourceStats",
    "TriggerConfig",
    "bit_depth_of",
    "frame_id_gap",
    "list_devices",
    "load_camera_config",
    "open_source",
    "parse_spec",
    "tlsimu_cti",
]
