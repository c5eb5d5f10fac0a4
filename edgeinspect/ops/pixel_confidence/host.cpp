// Host form of kernel.cu for CPU tests (built by edgeinspect/ops/host.py with g++ and the same PCM_*
// defines as the NVRTC build, loaded with ctypes).
//
// Runs the real __global__ kernels of kernel.cu under ../include/cuda_emulation.h (every CUDA thread
// a fiber; shared memory and __syncthreads emulated) with the launch geometry the TensorRT plugin
// uses (plugin.launch_config, passed in by host.py). Each wrapper takes the kernel's own arguments in
// TensorRT's AOT order, then grid_block = {gx, gy, gz, bx, by, bz} and the dynamic shared-memory bytes.

#define EI_CUDA_EMULATION 1
#include "cuda_emulation.h"

#include "kernel.cu"

#define EI_EXPORT __attribute__((visibility("default")))  // the library is built with -fvisibility=hidden

extern "C" {
EI_EXPORT void pixel_confidence_fp32_launch(const float* y, int H, int W, float* out, const unsigned* grid_block,
                                  unsigned long long shared_bytes) {
    ei_emu::launch(grid_block, shared_bytes, [=] { pixel_confidence_fp32(y, H, W, out); });
}
EI_EXPORT void pixel_confidence_fp16_launch(const __half* y, int H, int W, __half* out, const unsigned* grid_block,
                                  unsigned long long shared_bytes) {
    ei_emu::launch(grid_block, shared_bytes, [=] { pixel_confidence_fp16(y, H, W, out); });
}
}
