"""edgeinspect: surface-defect segmentation networks from training to line-scan cameras.

The runtime (``backends``, ``acquire``, ``stream``, ``metrics``) imports no torch; ``models``,
``train`` and ``export`` do and need the ``train`` extra.
"""

__version__ = "0.1.0"
