// edgeinspect::pixel_confidence (LPC-Net PCM), kernel version 1.
//
// Math (reference.py next to this file; K = fixed k x k weights, zero padding, 'same' size):
//
//   m_ipc = (K * y) / sum(K)                 neighbourhood confidence in [0, 1]
//   m_pcm = (1 - eps) + 2 eps m_ipc          fixed linear map onto [1 - eps, 1 + eps]
//   out   = min(y * m_pcm, 1)
//
// computed per pixel as  acc = sum_{dy,dx} K[dy][dx] * y[h+dy-r][w+dx-r]  (fmaf, row-major order),
// m = fmaf(acc, PCM_SCALE, PCM_BASE) with PCM_SCALE = 2 eps / sum(K), PCM_BASE = 1 - eps, and
// out = (y * m > 1) ? 1 : y * m  (NaN propagates like numpy.minimum).
//
// The plugin attributes are build-time constants: TensorRT AOT plugins get no float scalars at run
// time and do not serialize attributes, so the compile step defines (all four are required)
//   PCM_K        odd kernel size k, 1..31
//   PCM_WEIGHTS  brace list of k*k float literals, row-major, e.g. {0x1.c71c72p-4f, ...}
//   PCM_SCALE    float literal 2 eps / sum(K)
//   PCM_BASE     float literal 1 - eps
// (edgeinspect.ops.pixel_confidence.plugin.kernel_defines writes them as exact hex floats).
//
// I/O: y (N,C,H,W) -> out (N,C,H,W), contiguous, all float (fp32 entry) or all __half (fp16 entry);
// FP32 arithmetic. The PCM uses C = 1; every (n,c) plane is processed independently. Entries:
//
//   pixel_confidence_fp32(const float*  y, int H, int W, float*  out)
//   pixel_confidence_fp16(const __half* y, int H, int W, __half* out)
//
// Launch: grid (ceil(W/32), ceil(H/32), N*C), block (32, 8, 1), no dynamic shared memory.
// Each block stages a zero-padded (32+k-1)^2 float tile (static shared memory, <= 15.4 KiB at
// k = 31) with coalesced row-major loads, then each thread writes 4 outputs of the 32x32 tile.
// Limits: N*C <= 65535 (grid z), k <= 31.
//
// Host form (CPU tests): host.cpp compiles this file with g++, the same -D constants and
// EI_CUDA_EMULATION after ../include/cuda_emulation.h, which runs these very kernels with emulated
// threads, shared memory and __syncthreads; no FMA contraction on either side (NVRTC --fmad=false,
// g++ -ffp-contract=off), so FP32 host results equal the device's bit for bit.

#ifndef EDGEINSPECT_PIXEL_CONFIDENCE_CU
#define EDGEINSPECT_PIXEL_CONFIDENCE_CU

#if !defined(PCM_K) || !defined(PCM_WEIGHTS) || !defined(PCM_SCALE) || !defined(PCM_BASE)
#error "pixel_confidence kernel.cu needs PCM_K, PCM_WEIGHTS, PCM_SCALE and PCM_BASE defined (see plugin.kernel_defines)"
#endif
#if (PCM_K < 1) || (PCM_K > 31) || (PCM_K % 2 == 0)
#error "PCM_K must be odd and in 1..31"
#endif

// ---------------------------------------------------------------- portable section (host + device)
#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define EI_HD __host__ __device__ __forceinline__
#define EI_UNROLL _Pragma("unroll")
typedef __half ei_half;
EI_HD float ei_to_float(ei_half v) { return __half2float(v); }
EI_HD void ei_store(ei_half* p, float v) { *p = __float2half_rn(v); }
#else
#include <math.h>  // fmaf
#define EI_HD inline
#define EI_UNROLL
typedef _Float16 ei_half;  // IEEE binary16; float conversion rounds to nearest even like __float2half_rn
EI_HD float ei_to_float(ei_half v) { return static_cast<float>(v); }
EI_HD void ei_store(ei_half* p, float v) { *p = static_cast<ei_half>(v); }
#endif
EI_HD float ei_to_float(float v) { return v; }
EI_HD void ei_store(float* p, float v) { *p = v; }

#define PCM_RADIUS (PCM_K / 2)
#define PCM_TILE 32
#define PCM_ROWS 8
#define PCM_SPAN (PCM_TILE + PCM_K - 1)

// Final probability of one pixel. `window` points at the top-left of its k x k neighbourhood in a
// zero-padded float plane with row pitch `pitch`; `center` is the pixel's own value.
EI_HD float pcm_pixel(const float* window, int pitch, float center) {
    const float weights[PCM_K * PCM_K] = PCM_WEIGHTS;
    float acc = 0.0f;
    EI_UNROLL
    for (int dy = 0; dy < PCM_K; ++dy) {
        EI_UNROLL
        for (int dx = 0; dx < PCM_K; ++dx) acc = fmaf(weights[dy * PCM_K + dx], window[dy * pitch + dx], acc);
    }
    const float m = fmaf(acc, PCM_SCALE, PCM_BASE);
    const float v = center * m;
    return v > 1.0f ? 1.0f : v;
}

// ---------------------------------------------------------------- device section (NVRTC, or emulated)
#if defined(__CUDACC__) || defined(EI_CUDA_EMULATION)

template <typename T>
__device__ __forceinline__ void pcm_tile(const T* __restrict__ y, int H, int W, T* __restrict__ out) {
    __shared__ float tile[PCM_SPAN * PCM_SPAN];
    const long long base = static_cast<long long>(blockIdx.z) * H * W;
    const T* yp = y + base;
    const int x0 = blockIdx.x * PCM_TILE;
    const int y0 = blockIdx.y * PCM_TILE;
    const int tid = threadIdx.y * PCM_TILE + threadIdx.x;

    for (int i = tid; i < PCM_SPAN * PCM_SPAN; i += PCM_TILE * PCM_ROWS) {
        const int gh = y0 + i / PCM_SPAN - PCM_RADIUS;
        const int gw = x0 + i % PCM_SPAN - PCM_RADIUS;
        const bool inside = gh >= 0 && gh < H && gw >= 0 && gw < W;
        tile[i] = inside ? ei_to_float(yp[static_cast<long long>(gh) * W + gw]) : 0.0f;
    }
    __syncthreads();

    T* op = out + base;
    const int ow = x0 + threadIdx.x;
    EI_UNROLL
    for (int r = threadIdx.y; r < PCM_TILE; r += PCM_ROWS) {
        const int oh = y0 + r;
        if (oh < H && ow < W) {
            const float* window = &tile[r * PCM_SPAN + threadIdx.x];
            const float center = window[PCM_RADIUS * PCM_SPAN + PCM_RADIUS];
            ei_store(&op[static_cast<long long>(oh) * W + ow], pcm_pixel(window, PCM_SPAN, center));
        }
    }
}

extern "C" __global__ void __launch_bounds__(PCM_TILE * PCM_ROWS)
pixel_confidence_fp32(const float* y, int H, int W, float* out) {
    pcm_tile<float>(y, H, W, out);
}

extern "C" __global__ void __launch_bounds__(PCM_TILE * PCM_ROWS)
pixel_confidence_fp16(const __half* y, int H, int W, __half* out) {
    pcm_tile<__half>(y, H, W, out);
}

#endif  // __CUDACC__ || EI_CUDA_EMULATION
#endif  // EDGEINSPECT_PIXEL_CONFIDENCE_CU
