"""One module per public dataset layout; each has ``NAME``, ``LAYOUT``, ``looks_like(root)`` and ``index(root, bad)``.

:data:`FORMATS` is the detection order of :func:`edgeinspect.data.datasets.detect_format`.
Adding a layout = one module here + one entry in :data:`FORMATS`.
"""

from edgeinspect.data.formats import aitex, kolektor, mt, pairs
from edgeinspect.data.formats._common import BadInputs, SampleMeta

#: name → format module, in detection order.
FORMATS = {module.NAME: module for module in (mt, kolektor, aitex, pairs)}

__all__ = ["FORMATS", "BadInputs", "SampleMeta"]
