#!/usr/bin/env bash
# Build TensorRT's Python bindings for the Python edgeinspect runs on (3.11) against JetPack 6's
# TensorRT (10.3, /usr/lib/aarch64-linux-gnu), following NVIDIA/TensorRT python/README.md.
# JetPack 6 ships the bindings for its system Python 3.10 only; JetPack 7 ships them for its
# Python 3.12 and needs none of this.
#
# UNVERIFIED ON A JETSON: written from the TensorRT OSS build instructions; no Jetson was available.
#
#   sudo apt-get install -y git python3.11-dev
#   PYTHON=python3.11 OUT=/opt/edgeinspect/wheels deploy/jetson/build_tensorrt_python.sh
#   /opt/edgeinspect/venv/bin/pip install /opt/edgeinspect/wheels/tensorrt-*.whl
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
OUT=${OUT:-$PWD/wheels}
WORK=${WORK:-$(mktemp -d)}
# TensorRT version installed by JetPack, e.g. 10.3.0.30 → branch release/10.3
TRT_VERSION=${TRT_VERSION:-$(dpkg-query -W -f='${Version}' libnvinfer10 2>/dev/null | cut -d- -f1 || true)}
if [[ -z "${TRT_VERSION}" ]]; then
  echo "error: libnvinfer10 not installed: install JetPack's TensorRT (sudo apt-get install nvidia-tensorrt)" >&2
  exit 2
fi
BRANCH=${BRANCH:-release/$(echo "${TRT_VERSION}" | cut -d. -f1,2)}
PY_MINOR=$(${PYTHON} -c 'import sys; print(sys.version_info.minor)')
PY_INCLUDE=$(${PYTHON} -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if [[ ! -f "${PY_INCLUDE}/Python.h" ]]; then
  echo "error: ${PY_INCLUDE}/Python.h missing: sudo apt-get install python3.${PY_MINOR}-dev" >&2
  exit 2
fi

echo "building TensorRT ${TRT_VERSION} Python bindings (${BRANCH}) for Python 3.${PY_MINOR} in ${WORK}"
cd "${WORK}"
git clone --depth 1 --branch "${BRANCH}" https://github.com/NVIDIA/TensorRT.git
mkdir -p external
${PYTHON} -m pip install --target external/pybind11-pkg 'pybind11>=2.11'
ln -sfn "${WORK}/external/pybind11-pkg/pybind11" external/pybind11
ln -sfn "${PY_INCLUDE}" "external/python3.${PY_MINOR}"
# the bindings include the ONNX parser header from the source tree's parser folder
ln -sfn /usr/include/aarch64-linux-gnu/NvOnnxParser.h TensorRT/parsers/onnx/NvOnnxParser.h

cd TensorRT/python
EXT_PATH="${WORK}/external" \
PYTHON_MAJOR_VERSION=3 PYTHON_MINOR_VERSION="${PY_MINOR}" \
TARGET_ARCHITECTURE=aarch64 TENSORRT_MODULE=tensorrt \
  bash ./build.sh

mkdir -p "${OUT}"
find build -name 'tensorrt-*.whl' -exec cp -v {} "${OUT}/" \;
ls "${OUT}"/tensorrt-*.whl
