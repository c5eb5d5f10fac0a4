"""Commissioning calibrations: camera geometry (``calib/<name>.yaml``) and INT8 calibration sets.

- :mod:`~edgeinspect.calibration.camera`: mm per pixel across the web (per-column polynomial
  where the lens distorts) from line-scan images of a checkerboard or line target;
  :func:`calibrate_camera` measures and writes the YAML ``edgeinspect run --calib`` reads.
- :mod:`~edgeinspect.calibration.encoder`: mm per line along the web (encoder, measuring roller,
  or web speed / line rate) and the pixel aspect-ratio warning.
- :mod:`~edgeinspect.calibration.budget`: the share of the ±20 % area budget a defect of a given
  size spends on the calibration and on the pixel grid (``edgeinspect calib check``).
- :mod:`~edgeinspect.calibration.int8set`: representative tiles for INT8 calibration, stratified
  by defect / defect-free and across the width (``calib/int8/<name>/``).
- :mod:`~edgeinspect.calibration.writer`: writing the YAML and reading its metadata back.

NumPy and OpenCV only (no torch): this runs on the edge box during commissioning.
"""

from edgeinspect.calibration.budget import AreaBudget, CalibrationCheck, check_calibration
from edgeinspect.calibration.camera import (
    AcrossFit, AlongFit, CameraCalibration, Target, calibrate_camera, measure_across, measure_along,
)
from edgeinspect.calibration.encoder import AlongSetup, AspectCheck, check_aspect, from_encoder, from_roller, from_speed
from edgeinspect.calibration.int8set import Int8Set, select_int8_set
from edgeinspect.calibration.writer import read_meta, write_calibration

__all__ = [
    "AcrossFit", "AlongFit", "AlongSetup", "AreaBudget", "AspectCheck", "CalibrationCheck", "CameraCalibration",
    "Int8Set", "Target", "calibrate_camera", "check_aspect", "check_calibration", "from_encoder", "from_roller",
    "from_speed", "measure_across", "measure_along", "read_meta", "select_int8_set", "write_calibration",
]
