"""What the plugin-form ONNX node and the TensorRT plugin share for the PCM.

The exporter writes nodes from these constants and the TensorRT plugin registers from them; a test
checks the exported node against the plugin definition. No torch, no TensorRT here.
"""

PLUGIN_NAME = "pixel_confidence"          # ONNX op_type (bare plugin name)
PLUGIN_NAMESPACE = "edgeinspect"          # ONNX STRING attribute 'plugin_namespace'
PLUGIN_ID = f"{PLUGIN_NAMESPACE}::{PLUGIN_NAME}"  # tensorrt.plugin id
ONNX_DOMAIN = "trt.plugins"               # custom domain (needs an opset_import entry): onnx.checker skips schemas
# TensorRT's ONNX parser (onnx-tensorrt FallbackPluginImporter) looks the creator up by (op_type, STRING attr
# 'plugin_version' or "1", STRING attr 'plugin_namespace'); only if that fails does it retry with the node's
# domain as namespace (10.10+). So the domain is free and 'plugin_namespace' is what matters.
PLUGIN_VERSION = "1"                      # tensorrt.plugin creators are version "1"; the node may omit the attr
AOT = 1                                   # ONNX INT attribute 'aot': 1 = build the AOT implementation (no Python at run time)
INPUTS = ("y_isr",)                       # (N,1,H,W) probabilities in [0,1]
OUTPUTS = ("y_fsr",)                      # (N,1,H,W) probabilities in [0,1]
# Ordered (name, type) of the plugin's own attributes; passed positionally to aot_impl in this order.
#   kernel: FLOATS, k*k fixed weights row-major (>= 0, positive sum); kernel_size: INT (odd k); epsilon: FLOAT.
ATTRIBUTES: tuple[tuple[str, str], ...] = (("kernel", "floats"), ("kernel_size", "int"), ("epsilon", "float"))
