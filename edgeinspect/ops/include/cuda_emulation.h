// Minimal CUDA SIMT emulation for running edgeinspect's kernel.cu files on the CPU (tests only).
//
// A host harness defines EI_CUDA_EMULATION, includes this header, then includes kernel.cu: the
// kernels' device section compiles with g++ and ei_emu::launch runs a grid one block at a time,
// each CUDA thread a ucontext fiber on one OS thread. Emulated: threadIdx/blockIdx/blockDim/gridDim,
// static __shared__ (one block is resident at a time, so `static` storage is block-shared), dynamic
// shared memory (EI_DYNAMIC_SHARED), __syncthreads (block barrier) and __shfl_xor_sync on float
// (warp barrier: all 32 lanes of the warp must reach it, as on a GPU; a divergent or missing
// participant aborts with "deadlock"). Fibers switch only at those barriers, so the emulation is
// deterministic. Not emulated: memory-model races, atomics, other intrinsics. Not thread-safe.

#ifndef EDGEINSPECT_CUDA_EMULATION_H
#define EDGEINSPECT_CUDA_EMULATION_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

namespace ei_emu {

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

enum State { kRunning, kBlockBarrier, kWarpBarrier, kDone };

struct Fiber {
    ucontext_t ctx;
    dim3 thread_idx;
    int linear = 0;
    State state = kRunning;
};

// Storage of one launch (C headers and plain arrays only: the library builds in about a second).
struct Launch {
    dim3 grid, block, block_idx;
    Fiber* fibers = nullptr;
    char* stacks = nullptr;          // one fiber stack per thread, reused by every block
    char* dynamic_shared = nullptr;
    float* exchange = nullptr;       // warp shuffle mailbox, one slot per thread
    ucontext_t scheduler;
    Fiber* current = nullptr;
    void (*invoke)(void*) = nullptr; // runs the kernel body for the current thread
    void* body = nullptr;
    ~Launch() {
        delete[] fibers;
        delete[] stacks;
        delete[] dynamic_shared;
        delete[] exchange;
    }
};

inline Launch*& active() {
    static Launch* launch = nullptr;
    return launch;
}

inline void yield(State state) {
    Launch* l = active();
    l->current->state = state;
    swapcontext(&l->current->ctx, &l->scheduler);
}

inline void trampoline() {
    Launch* l = active();
    l->invoke(l->body);
    l->current->state = kDone;  // uc_link returns to the scheduler
}

inline void fail(const char* what) {
    fprintf(stderr, "cuda_emulation: %s\n", what);
    abort();
}

// Run body() as the kernel for every thread of every block of grid x block.
template <typename Body>
void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, Body body) {
    const int threads = static_cast<int>(block.x * block.y * block.z);
    if (threads % 32 != 0) fail("block size must be a multiple of 32");
    const size_t stack_bytes = 64 * 1024;
    Launch l;
    l.grid = grid;
    l.block = block;
    l.body = &body;
    l.invoke = [](void* b) { (*static_cast<Body*>(b))(); };
    l.fibers = new Fiber[threads];
    l.stacks = new char[stack_bytes * threads];
    l.dynamic_shared = new char[dynamic_shared_bytes + 16]();
    l.exchange = new float[threads]();
    active() = &l;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                l.block_idx = dim3{bx, by, bz};
                for (int t = 0; t < threads; ++t) {
                    Fiber& f = l.fibers[t];
                    f.linear = t;
                    f.thread_idx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                    f.state = kRunning;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = l.stacks + stack_bytes * t;
                    f.ctx.uc_stack.ss_size = stack_bytes;
                    f.ctx.uc_link = &l.scheduler;
                    makecontext(&f.ctx, trampoline, 0);
                }
                for (;;) {
                    for (int t = 0; t < threads; ++t)
                        if (l.fibers[t].state == kRunning) {
                            l.current = &l.fibers[t];
                            swapcontext(&l.scheduler, &l.fibers[t].ctx);
                        }
                    bool released = false;
                    for (int w = 0; w < threads; w += 32) {  // a warp barrier opens when all 32 lanes wait at it
                        bool all = true;
                        for (int t = w; t < w + 32; ++t) all = all && l.fibers[t].state == kWarpBarrier;
                        if (all) {
                            for (int t = w; t < w + 32; ++t) l.fibers[t].state = kRunning;
                            released = true;
                        }
                    }
                    if (released) continue;
                    int waiting = 0, done = 0;
                    for (int t = 0; t < threads; ++t) {
                        waiting += l.fibers[t].state == kBlockBarrier;
                        done += l.fibers[t].state == kDone;
                    }
                    if (done == threads) break;
                    if (waiting + done == threads) {  // __syncthreads: every live thread has arrived
                        for (int t = 0; t < threads; ++t)
                            if (l.fibers[t].state == kBlockBarrier) l.fibers[t].state = kRunning;
                        continue;
                    }
                    fail("deadlock: threads wait at different barriers (divergent __syncthreads or shuffle)");
                }
            }
    active() = nullptr;
}

template <typename T>
T* dynamic_shared() {
    return reinterpret_cast<T*>(active()->dynamic_shared);
}

inline float shfl_xor(float v, int offset) {
    Launch* l = active();
    const int me = l->current->linear;
    l->exchange[me] = v;
    yield(kWarpBarrier);  // all lanes have written
    const float other = l->exchange[me ^ offset];
    yield(kWarpBarrier);  // all lanes have read before the buffer is reused
    return other;
}

// Launch a kernel with TensorRT-style geometry: grid_block = {grid x,y,z, block x,y,z}.
template <typename Body>
void launch(const unsigned* grid_block, size_t dynamic_shared_bytes, Body body) {
    launch(dim3{grid_block[0], grid_block[1], grid_block[2]}, dim3{grid_block[3], grid_block[4], grid_block[5]},
           dynamic_shared_bytes, body);
}

}  // namespace ei_emu

typedef _Float16 __half;  // IEEE binary16, same layout and rounding as CUDA's __half
#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define EI_DYNAMIC_SHARED(type, name) type* name = ei_emu::dynamic_shared<type>()
#define threadIdx (ei_emu::active()->current->thread_idx)
#define blockIdx (ei_emu::active()->block_idx)
#define blockDim (ei_emu::active()->block)
#define gridDim (ei_emu::active()->grid)
#define __syncthreads() ei_emu::yield(ei_emu::kBlockBarrier)
#define __shfl_xor_sync(mask, value, offset) ei_emu::shfl_xor((value), (offset))

#endif  // EDGEINSPECT_CUDA_EMULATION_H
