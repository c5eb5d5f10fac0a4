"""What the plugin-form ONNX node and the TensorRT plugin share for the strip projection.

The exporter writes nodes from these constants and the TensorRT plugin registers from them; a test
checks the exported node against the plugin definition. No torch, no TensorRT here.
"""

PLUGIN_NAME = "strip_projection"          # ONNX op_type (bare plugin name)
PLUGIN_NAMESPACE = "edgeinspect"          # ONNX STRING attribute 'plugin_namespace'
PLUGIN_ID = f"{PLUGIN_NAMESPACE}::{PLUGIN_NAME}"  # tensorrt.plugin id
ONNX_DOMAIN = "trt.plugins"               # custom domain (needs an opset_import entry): onnx.checker skips schemas
# TensorRT's ONNX parser (onnx-tensorrt FallbackPluginImporter) looks the creator up by (op_type, STRING attr
# 'plugin_version' or "1", STRING attr 'plugin_namespace'); only if that fails does it retry with the node's
# domain as namespace (10.10+). So the domain is free and 'plugin_namespace' is what matters.
PLUGIN_VERSION = "1"                      # tensorrt.plugin creators are version "1"; the node may omit the attr
AOT = 1                                   # ONNX INT attribute 'aot': 1 = build the AOT implementation (no Python at run time)
INPUTS = ("x", "w_row", "b_row", "w_col", "b_col")   # (N,C,H,W), (C,H), (C,), (C,W), (C,)
OUTPUTS = ("y",)                          # (N,C,H,W)
# Ordered (name, type) of the plugin's own attributes; passed positionally to aot_impl in this order.
ATTRIBUTES: tuple[tuple[str, str], ...] = ()
