// edgeinspect::strip_projection, kernel version 1.
//
// Fused row/column strip projection + outer product (math: reference.py next to this file):
//
//   row[n,c,w] = sum_h x[n,c,h,w] * w_row[c,h] + b_row[c]        (full-height projection, length W)
//   col[n,c,h] = sum_w x[n,c,h,w] * w_col[c,w] + b_col[c]        (full-width projection, length H)
//   y[n,c,h,w] = col[n,c,h] * row[n,c,w]
//
// I/O: x (N,C,H,W), w_row (C,H), b_row (C), w_col (C,W), b_col (C) -> y (N,C,H,W), contiguous
// (TensorRT LINEAR). All tensors are float (fp32 entry) or all are __half (fp16 entry); the
// arithmetic is FP32 in both. Entry points (extern "C", the PTX .entry names):
//
//   strip_projection_fp32(const float*  x, w_row, b_row, w_col, b_col, int C, int H, int W, float*  y)
//   strip_projection_fp16(const __half* x, w_row, b_row, w_col, b_col, int C, int H, int W, __half* y)
//
// The order is TensorRT's AOT calling convention: tensor inputs, the int32 extra args, outputs.
//
// Launch: grid (N*C, 1, 1), block (256, 1, 1), dynamic shared memory (H + W) * 4 bytes.
// One block owns one (n,c) plane and reads it once:
//   * warp k (of 8) takes rows h = k, k+8, ...; its 32 lanes take 32 consecutive columns
//     (coalesced 32-element row segments), looping over 32-column chunks;
//   * each lane keeps a register partial of row[w] over its warp's rows (fmaf);
//   * col[h] gets each chunk's 32 products summed by a xor-butterfly warp reduction, added into
//     shared col[h] by lane 0 (only that warp ever touches row h: no atomics);
//   * the 8 per-warp row partials are summed in a fixed order through a static 8x32 shared array;
//   * finally every (h,w) is written as col[h] * row[w], 32 consecutive columns per warp.
// Limits: H + W <= 12032 (dynamic (H+W)*4 B + 1 KiB static must fit the default 48 KiB per block);
// N*C <= 2^31-1 blocks. DLM planes (64x64 at 256^2 tiles) use 512 B.
//
// Host form (CPU tests): host.cpp compiles this file with g++ and EI_CUDA_EMULATION after
// ../include/cuda_emulation.h, which runs these very kernels with emulated threads, shared memory,
// __syncthreads and warp shuffles. Per-element arithmetic lives in the __host__ __device__ functions
// of the portable section; NVRTC runs with --fmad=false and g++ with -ffp-contract=off, every FMA
// is an explicit fmaf, so FP32 host results equal the device's bit for bit.

#ifndef EDGEINSPECT_STRIP_PROJECTION_CU
#define EDGEINSPECT_STRIP_PROJECTION_CU

// ---------------------------------------------------------------- portable section (host + device)
#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define EI_HD __host__ __device__ __forceinline__
typedef __half ei_half;
EI_HD float ei_to_float(ei_half v) { return __half2float(v); }
EI_HD void ei_store(ei_half* p, float v) { *p = __float2half_rn(v); }
#else
#include <math.h>  // fmaf
#define EI_HD inline
typedef _Float16 ei_half;  // IEEE binary16; float conversion rounds to nearest even like __float2half_rn
EI_HD float ei_to_float(ei_half v) { return static_cast<float>(v); }
EI_HD void ei_store(ei_half* p, float v) { *p = static_cast<ei_half>(v); }
#endif
EI_HD float ei_to_float(float v) { return v; }
EI_HD void ei_store(float* p, float v) { *p = v; }

#define SP_THREADS 256
#define SP_WARPS 8
#define SP_LANES 32

// Row-vector partial: acc + x * w_row[h] (one rounding).
EI_HD float sp_row_fma(float x, float w_row_h, float acc) { return fmaf(x, w_row_h, acc); }
// One lane's share of col[h] before the warp reduction.
EI_HD float sp_col_term(float x, float w_col_w) { return x * w_col_w; }
// One butterfly step of the warp reduction: own value + the partner lane's value.
EI_HD float sp_butterfly(float own, float partner) { return own + partner; }
// row[w] from the 8 per-warp partials, summed in warp order, plus the bias.
EI_HD float sp_row_finish(const float* partials, int stride, float bias) {
    float s = 0.0f;
    for (int k = 0; k < SP_WARPS; ++k) s += partials[k * stride];
    return s + bias;
}
// Output element: the outer product.
EI_HD float sp_outer(float col_h, float row_w) { return col_h * row_w; }

// ---------------------------------------------------------------- device section (NVRTC, or emulated)
#if defined(__CUDACC__) || defined(EI_CUDA_EMULATION)
#if defined(__CUDACC__)
#define EI_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

__device__ __forceinline__ float sp_warp_sum(float v) {
    for (int offset = SP_LANES / 2; offset > 0; offset >>= 1)
        v = sp_butterfly(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

template <typename T>
__device__ __forceinline__ void sp_plane(const T* __restrict__ x, const T* __restrict__ w_row,
                                         const T* __restrict__ b_row, const T* __restrict__ w_col,
                                         const T* __restrict__ b_col, int C, int H, int W,
                                         T* __restrict__ y) {
    EI_DYNAMIC_SHARED(float, sp_smem);      // row[W] then col[H]
    __shared__ float sp_part[SP_WARPS][SP_LANES];
    float* s_row = sp_smem;
    float* s_col = sp_smem + W;

    const long long plane = blockIdx.x;
    const int c = static_cast<int>(plane % C);
    const long long base = plane * static_cast<long long>(H) * W;
    const T* xp = x + base;
    const T* wr = w_row + static_cast<long long>(c) * H;
    const T* wc = w_col + static_cast<long long>(c) * W;
    const int tid = threadIdx.x;
    const int warp = tid / SP_LANES;
    const int lane = tid % SP_LANES;

    for (int h = tid; h < H; h += SP_THREADS) s_col[h] = 0.0f;
    __syncthreads();

    for (int w0 = 0; w0 < W; w0 += SP_LANES) {
        const int w = w0 + lane;
        const bool valid = w < W;
        const float wcw = valid ? ei_to_float(wc[w]) : 0.0f;
        float racc = 0.0f;
        for (int h = warp; h < H; h += SP_WARPS) {
            const float v = valid ? ei_to_float(xp[static_cast<long long>(h) * W + w]) : 0.0f;
            racc = sp_row_fma(v, ei_to_float(wr[h]), racc);
            const float t = sp_warp_sum(sp_col_term(v, wcw));
            if (lane == 0) s_col[h] += t;
        }
        sp_part[warp][lane] = racc;
        __syncthreads();
        if (warp == 0 && valid) s_row[w] = sp_row_finish(&sp_part[0][lane], SP_LANES, ei_to_float(b_row[c]));
        __syncthreads();
    }

    const float bc = ei_to_float(b_col[c]);
    for (int h = tid; h < H; h += SP_THREADS) s_col[h] += bc;
    __syncthreads();

    T* yp = y + base;
    for (int h = warp; h < H; h += SP_WARPS) {
        const float ch = s_col[h];
        for (int w = lane; w < W; w += SP_LANES)
            ei_store(&yp[static_cast<long long>(h) * W + w], sp_outer(ch, s_row[w]));
    }
}

extern "C" __global__ void __launch_bounds__(SP_THREADS)
strip_projection_fp32(const float* x, const float* w_row, const float* b_row, const float* w_col,
                      const float* b_col, int C, int H, int W, float* y) {
    sp_plane<float>(x, w_row, b_row, w_col, b_col, C, H, W, y);
}

extern "C" __global__ void __launch_bounds__(SP_THREADS)
strip_projection_fp16(const __half* x, const __half* w_row, const __half* b_row, const __half* w_col,
                      const __half* b_col, int C, int H, int W, __half* y) {
    sp_plane<__half>(x, w_row, b_row, w_col, b_col, C, H, W, y);
}

#endif  // __CUDACC__ || EI_CUDA_EMULATION
#endif  // EDGEINSPECT_STRIP_PROJECTION_CU
