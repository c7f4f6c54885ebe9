import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

# The kernel and a raw-pointer launcher: plain CUDA, no torch headers needed to compile it.
CUDA_SRC = r"""
#include <cuda_runtime.h>
#include <stdint.h>

constexpr int THREADS = 256;

__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

// One block per row. Pass 1 sums squares (16-byte loads when the row allows them); pass 2
// re-reads the row, which is still in L2, and writes x * rstd * w.
__global__ __launch_bounds__(THREADS) void rmsnorm_kernel(
        const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ y,
        int64_t cols, float eps, bool vec4) {
    const int64_t row = blockIdx.x;
    const int n = (int)cols, n4 = n / 4;  // a row has fewer than 2^31 elements
    const float* xr = x + row * cols;
    float* yr = y + row * cols;
    float sq = 0.f;
    if (vec4) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        for (int i = threadIdx.x; i < n4; i += THREADS) {
            float4 v = x4[i];
            sq += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    } else {
        for (int i = threadIdx.x; i < n; i += THREADS) sq += xr[i] * xr[i];
    }
    __shared__ float partial[THREADS / 32];
    __shared__ float rstd_shared;
    sq = warp_sum(sq);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sq;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < THREADS / 32 ? partial[threadIdx.x] : 0.f;
        v = warp_sum(v);
        if (threadIdx.x == 0) rstd_shared = rsqrtf(v / (float)cols + eps);
    }
    __syncthreads();
    const float rstd = rstd_shared;
    if (vec4) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        const float4* w4 = reinterpret_cast<const float4*>(w);
        float4* y4 = reinterpret_cast<float4*>(yr);
        for (int i = threadIdx.x; i < n4; i += THREADS) {
            float4 v = x4[i], s = w4[i];
            y4[i] = make_float4(v.x * rstd * s.x, v.y * rstd * s.y, v.z * rstd * s.z, v.w * rstd * s.w);
        }
    } else {
        for (int i = threadIdx.x; i < n; i += THREADS) yr[i] = xr[i] * rstd * w[i];
    }
}

// Returns nullptr on success, else the CUDA error text.
const char* rmsnorm_launch(const float* x, const float* w, float* y, int64_t rows, int64_t cols,
                           float eps, int64_t stream) {
    if (rows == 0 || cols == 0) return nullptr;
    const bool vec4 = cols % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0
                      && reinterpret_cast<uintptr_t>(w) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
    rmsnorm_kernel<<<(unsigned)rows, THREADS, 0, reinterpret_cast<cudaStream_t>(stream)>>>(x, w, y, cols, eps, vec4);
    cudaError_t err = cudaGetLastError();
    return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}
"""

CPP_SRC = r"""
#include <torch/extension.h>

const char* rmsnorm_launch(const float* x, const float* w, float* y, int64_t rows, int64_t cols,
                           float eps, int64_t stream);

torch::Tensor rmsnorm(torch::Tensor x, torch::Tensor w, double eps, int64_t stream) {
    TORCH_CHECK(x.is_cuda() && w.is_cuda(), "rmsnorm: tensors must be on the GPU");
    TORCH_CHECK(x.scalar_type() == torch::kFloat32 && w.scalar_type() == torch::kFloat32, "rmsnorm: float32 only");
    auto xc = x.contiguous();
    auto wc = w.contiguous();
    const int64_t cols = xc.size(-1);
    TORCH_CHECK(wc.numel() == cols, "rmsnorm: weight size must match the last dimension");
    auto y = torch::empty_like(xc);
    const char* err = rmsnorm_launch(xc.data_ptr<float>(), wc.data_ptr<float>(), y.data_ptr<float>(),
                                     xc.numel() / cols, cols, (float)eps, stream);
    TORCH_CHECK(err == nullptr, "rmsnorm kernel launch failed: ", err ? err : "");
    return y;
}
"""

_ext = load_inline(
    name="evoforge_bench_rmsnorm",
    cpp_sources=[CPP_SRC],
    cuda_sources=[CUDA_SRC],
    functions=["rmsnorm"],
    extra_cuda_cflags=["-O3", "-gencode=arch=compute_90,code=sm_90"],
    verbose=False,
)


class ModelNew(nn.Module):
    def __init__(self, features: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stream = torch.cuda.current_stream(x.device).cuda_stream
        return _ext.rmsnorm(x, self.weight, self.eps, stream)
