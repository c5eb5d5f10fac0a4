#!/usr/bin/env bash
# Install edgeinspect on a Jetson (JetPack 6 or 7) as a systemd service per inspection line.
#
# UNVERIFIED ON A JETSON: written from NVIDIA's JetPack documentation; no Jetson was available.
# Run from the edgeinspect source tree:  sudo deploy/jetson/install.sh
#
# What it does:
#   1. reads the Jetson Linux release (R36 = JetPack 6, R38 = JetPack 7);
#   2. creates /opt/edgeinspect/venv with a Python edgeinspect supports and JetPack's TensorRT
#      reachable from it (JP6: builds the bindings for Python 3.11; JP7: system Python 3.12 bindings);
#   3. installs edgeinspect + the genicam extra + the CUDA Python pieces matching JetPack's CUDA
#      (JP6: CUDA 12.6 → cuda-bindings>=12.6,<13 and nvidia-cuda-nvrtc-cu12; JP7: CUDA 13);
#   4. creates the 'edgeinspect' user and installs the systemd unit (not enabled);
#   5. prints the power-mode advice (nvpmodel / jetson_clocks) and the next steps.
# It never builds engines: build them on this device, after install (`edgeinspect build`).
set -euo pipefail

PREFIX=${PREFIX:-/opt/edgeinspect}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RELEASE_FILE=/etc/nv_tegra_release

if [[ $EUID -ne 0 ]]; then echo "error: run as root (sudo $0)" >&2; exit 2; fi
if [[ ! -f ${RELEASE_FILE} ]]; then echo "error: ${RELEASE_FILE} missing: this is not a Jetson" >&2; exit 2; fi
L4T_MAJOR=$(sed -n 's/^# R\([0-9]*\).*/\1/p' ${RELEASE_FILE})
case "${L4T_MAJOR}" in
  36) JETPACK=6; PYTHON=python3.11; CUDA_PKGS=("cuda-bindings>=12.6,<13" "nvidia-cuda-nvrtc-cu12") ;;
  38) JETPACK=7; PYTHON=python3.12; CUDA_PKGS=("cuda-bindings>=13,<14" "nvidia-cuda-nvrtc") ;;
  *) echo "error: Jetson Linux R${L4T_MAJOR} is neither JetPack 6 (R36) nor 7 (R38)" >&2; exit 2 ;;
esac
echo "Jetson Linux R${L4T_MAJOR} → JetPack ${JETPACK}; Python ${PYTHON#python}"

# JetPack's CUDA, cuDNN and TensorRT (a flashed JetPack has them; this makes sure)
apt-get update
apt-get install -y --no-install-recommends nvidia-jetpack git "${PYTHON}" "${PYTHON}-venv" "${PYTHON}-dev"
dpkg-query -W -f='TensorRT ${Version}\n' libnvinfer10 || { echo "error: TensorRT (libnvinfer10) missing" >&2; exit 2; }

mkdir -p "${PREFIX}"
if [[ ${JETPACK} == 6 ]]; then
  # JetPack 6 has TensorRT 10.3 bindings for its Python 3.10 only: build them for 3.11.
  ${PYTHON} -m venv "${PREFIX}/venv"
  PYTHON=${PYTHON} OUT="${PREFIX}/wheels" "${SRC}/deploy/jetson/build_tensorrt_python.sh"
  "${PREFIX}/venv/bin/pip" install "${PREFIX}"/wheels/tensorrt-*.whl
else
  # JetPack 7: python3-libnvinfer is built for the system Python 3.12; let the venv see it.
  apt-get install -y --no-install-recommends python3-libnvinfer
  ${PYTHON} -m venv --system-site-packages "${PREFIX}/venv"
fi
PIP="${PREFIX}/venv/bin/pip"
"${PIP}" install --upgrade pip
"${PIP}" install "${SRC}" "${SRC}[genicam]" "${CUDA_PKGS[@]}"
"${PREFIX}/venv/bin/python" -c "import tensorrt; print('TensorRT', tensorrt.__version__)"
ln -sfn "${PREFIX}/venv/bin/edgeinspect" /usr/local/bin/edgeinspect

# service user, config folder, unit
id edgeinspect >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edgeinspect --shell /usr/sbin/nologin \
  --groups video,plugdev edgeinspect
install -d -m 0755 /etc/edgeinspect
install -m 0644 "${SRC}/deploy/systemd/edgeinspect@.service" /etc/systemd/system/edgeinspect@.service
systemctl daemon-reload

cat <<EOF

Installed (not started). Next, as documented in deploy/jetson/README.md:
  1. steady clocks:  sudo nvpmodel -m 0 && sudo jetson_clocks    (MAXN; check modes: nvpmodel -p --verbose)
  2. build the engine ON THIS DEVICE (never copy engines between GPU models or TensorRT versions):
       sudo -u edgeinspect edgeinspect build MODEL.onnx --backend tensorrt --precision int8 \
            --calib calib/int8/NAME/calib.yaml --out /var/lib/edgeinspect/engines/NAME
     JetPack ${JETPACK}: $( [[ ${JETPACK} == 6 ]] && echo "TensorRT 10.3 → standard-op form (--plugins off; auto picks it too): QDP AOT plugins need TensorRT >= 10.9" || echo "TensorRT >= 10.9 → --plugins auto uses the AOT plugin form" )
  3. /etc/edgeinspect/LINE.yaml (+ LINE.env with GENICAM_GENTL64_PATH), then:
       sudo -u edgeinspect edgeinspect doctor --config /etc/edgeinspect/LINE.yaml
       sudo systemctl enable --now edgeinspect@LINE
EOF
