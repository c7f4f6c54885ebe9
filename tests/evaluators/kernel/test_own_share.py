"""The kernels stage's share of GPU time in the candidate's own kernels (issue 12, item 4): the
arithmetic over a profiled forward, and the option's default. The profiler itself runs only on a
GPU (bench/exploits.py: torch_does_the_work)."""

from __future__ import annotations

import pytest

from evaluators.kernel.own_share import DEFAULT_MIN_OWN_SHARE, own_share, own_share_for, shortfall_message

# One forward of a candidate that computes softmax with torch operators and copies 16 elements
# with a Triton kernel of its own, as torch's profiler names the kernels (microseconds).
TORCH_DOES_THE_WORK = [
    ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::MaxOps<float>>>", 110.0),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::exp_kernel_cuda>", 160.0),
    ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::func_wrapper_t<float>>>", 105.0),
    ("void at::native::elementwise_kernel<128, 2, at::native::div_true_kernel_cuda>", 170.0),
    ("token_copy_kernel", 2.5),
    ("Memset (Device)", 40.0),
]
HONEST = [("softmax_kernel", 290.0), ("Memcpy DtoD (Device -> Device)", 80.0)]


def test_a_token_kernel_beside_torch_operators_is_a_small_share_and_names_the_library_kernels():
    found = own_share(TORCH_DOES_THE_WORK, ["token_copy_kernel"])
    assert found.share == pytest.approx(2.5 / 547.5)
    assert found.share < DEFAULT_MIN_OWN_SHARE
    assert found.library[0][0].endswith("div_true_kernel_cuda>")  # the largest first
    message = shortfall_message(found, DEFAULT_MIN_OWN_SHARE)
    assert message.startswith("only 0% of one forward's GPU time ran in the candidate's own kernels (at least 50%")
    assert "div_true_kernel_cuda" in message and "(0.170 ms)" in message


def test_copies_and_fills_count_for_neither_side():
    assert own_share(HONEST, ["softmax_kernel"]).share == 1.0
    cast_and_zeros = [
        ("void at::native::unrolled_elementwise_kernel<at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)"
         "::{lambda()#3}::operator()() const::{lambda(float)#1}>", 150.0),
        ("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>>", 20.0),
        ("_row_sum_kernel", 100.0)]
    assert own_share(cast_and_zeros, ["_row_sum_kernel"]).share == 1.0
    assert own_share([("Memset (Device)", 5.0)], ["k"]) is None  # no kernel time: nothing to judge


def test_cuda_kernels_are_found_by_their_name_inside_the_profilers_signature():
    times = [("rmsnorm_kernel(float const*, float const*, float*, int, int)", 90.0),
             ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", 30.0)]
    assert own_share(times, ["rmsnorm_kernel"]).share == pytest.approx(0.75)


def test_the_default_is_most_of_the_work_unless_the_task_allows_library_operators():
    assert own_share_for(None, ()) == DEFAULT_MIN_OWN_SHARE == 0.5
    assert own_share_for(None, ("matmul",)) == 0.0
    assert own_share_for(0.9, ("matmul",)) == 0.9


def test_naming_a_kernel_after_torchs_does_not_make_torchs_kernels_its_own():
    found = own_share(TORCH_DOES_THE_WORK, ["reduce_kernel", "exp_kernel_cuda", "token_copy_kernel"])
    assert found.share < 0.01


def test_own_kernels_are_matched_as_whole_names_or_mangled():
    from evaluators.kernel.own_share import is_own

    assert is_own("_softmax_kernel", ["_softmax_kernel"])
    assert is_own("_Z14rmsnorm_kernelPKfS0_Pfii", ["rmsnorm_kernel"])
    assert is_own("void rmsnorm_kernel<float>(float const*, float*, int)", ["rmsnorm_kernel"])
    assert is_own("_softmax_kernel_0d1d2de", ["_softmax_kernel"])  # older Triton: a specialisation suffix
    assert not is_own("_softmax_kernel_v2", ["_softmax_kernel"])
    assert not is_own("triton_poi_fused_exp_0", ["exp_0"])
