"""Custom ops, one folder each: ``reference.py`` (NumPy oracle, the one definition of the math),
``spec.py`` (plugin name, namespace, attributes: what the ONNX node and the TensorRT plugin share),
``torch.py`` (PyTorch module), ``kernel.cu`` (hand-written CUDA), ``plugin.py`` (TensorRT plugin),
``README.md`` (I/O, attributes, math, changelog).

``REFERENCES`` maps an op name to its NumPy reference (Polygraphy pluginref style).
"""

from edgeinspect.ops.pixel_confidence.reference import pixel_confidence
from edgeinspect.ops.strip_projection.reference import strip_projection

REFERENCES = {
    "strip_projection": strip_projection,
    "pixel_confidence": pixel_confidence,
}
