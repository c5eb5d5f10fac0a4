// Host form of kernel.cu for CPU tests (built by edgeinspect/ops/host.py with g++, loaded with ctypes).
//
// Runs the real __global__ kernels of kernel.cu under ../include/cuda_emulation.h (every CUDA thread
// a fiber; shared memory, __syncthreads and warp shuffles emulated) with the launch geometry the
// TensorRT plugin uses (plugin.launch_config, passed in by host.py). Each wrapper takes the kernel's
// own arguments in TensorRT's AOT order, then grid_block = {gx, gy, gz, bx, by, bz} and the dynamic
// shared-memory bytes.

#define EI_CUDA_EMULATION 1
#include "cuda_emulation.h"

#include "kernel.cu"

#define EI_EXPORT __attribute__((visibility("default")))  // the library is built with -fvisibility=hidden

extern "C" {
EI_EXPORT void strip_projection_fp32_launch(const float* x, const float* w_row, const float* b_row, const float* w_col,
                                  const float* b_col, int C, int H, int W, float* y, const unsigned* grid_block,
                                  unsigned long long shared_bytes) {
    ei_emu::launch(grid_block, shared_bytes, [=] { strip_projection_fp32(x, w_row, b_row, w_col, b_col, C, H, W, y); });
}
EI_EXPORT void strip_projection_fp16_launch(const __half* x, const __half* w_row, const __half* b_row, const __half* w_col,
                                  const __half* b_col, int C, int H, int W, __half* y, const unsigned* grid_block,
                                  unsigned long long shared_bytes) {
    ei_emu::launch(grid_block, shared_bytes, [=] { strip_projection_fp16(x, w_row, b_row, w_col, b_col, C, H, W, y); });
}
}
