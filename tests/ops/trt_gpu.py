"""Build and run tiny TensorRT networks for the ``@pytest.mark.gpu`` plugin tests.

Needs tensorrt >= 10.9 (AOT QDPs), cuda-bindings and a CUDA device; written against the API in
/work/shared/notes/tensorrt-api.md (name-based I/O, ``execute_async_v3``, cuda.bindings runtime).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _ok(result):
    from cuda.bindings import runtime as cudart

    err, *rest = result
    if err != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA call failed: {cudart.cudaGetErrorName(err)[1]}")
    return rest[0] if len(rest) == 1 else (tuple(rest) if rest else None)


def _logger():
    import tensorrt as trt

    return trt.Logger(trt.Logger.WARNING)


def _network_flags(trt) -> int:
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.PREFER_AOT_PYTHON_PLUGINS)
    if int(trt.__version__.split(".")[0]) < 11:   # TensorRT 11 is always strongly typed
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags


def build_plan(populate: Callable, profile_shapes: dict | None = None) -> bytes:
    """Serialized engine of the network ``populate(network)`` defines (strongly typed, AOT plugins)."""
    import tensorrt as trt

    builder = trt.Builder(_logger())
    network = builder.create_network(_network_flags(trt))
    populate(network)
    return _build(builder, network, profile_shapes)


def build_plan_from_onnx(model_bytes: bytes, profile_shapes: dict | None = None) -> bytes:
    """Serialized engine of an ONNX model through TensorRT's ONNX parser."""
    import tensorrt as trt

    builder = trt.Builder(_logger())
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, _logger())
    if not parser.parse(model_bytes):
        raise RuntimeError("; ".join(parser.get_error(i).desc() for i in range(parser.num_errors)))
    return _build(builder, network, profile_shapes)


def _build(builder, network, profile_shapes: dict | None) -> bytes:
    config = builder.create_builder_config()
    if profile_shapes:
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in profile_shapes.items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT engine build failed (see the log above)")
    return bytes(plan)


def run_plan(plan: bytes, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Deserialize ``plan`` in a fresh runtime (no plugin import needed for AOT) and run it once."""
    import tensorrt as trt
    from cuda.bindings import runtime as cudart

    engine = trt.Runtime(_logger()).deserialize_cuda_engine(plan)
    assert engine is not None, "plan did not deserialize"
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            assert context.set_input_shape(name, inputs[name].shape)
    assert context.infer_shapes() == []
    stream = _ok(cudart.cudaStreamCreate())
    buffers, outputs = {}, {}
    try:
        for name in names:
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            shape = tuple(context.get_tensor_shape(name))
            host = (np.ascontiguousarray(inputs[name], dtype=dtype)
                    if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else np.empty(shape, dtype))
            buffers[name] = (_ok(cudart.cudaMalloc(max(host.nbytes, 1))), host)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                _ok(cudart.cudaMemcpy(buffers[name][0], host.ctypes.data, host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
            else:
                outputs[name] = host
            assert context.set_tensor_address(name, buffers[name][0])
        try:
            from cuda.bindings.utils import get_cuda_native_handle

            handle = get_cuda_native_handle(stream)
        except ImportError:
            handle = int(stream)
        assert context.execute_async_v3(handle)
        _ok(cudart.cudaStreamSynchronize(stream))
        for name, host in outputs.items():
            _ok(cudart.cudaMemcpy(host.ctypes.data, buffers[name][0], host.nbytes,
                                  cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost))
    finally:
        for pointer, _ in buffers.values():
            cudart.cudaFree(pointer)
        cudart.cudaStreamDestroy(stream)
    return outputs
