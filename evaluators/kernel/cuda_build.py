"""Compile-only CUDA builds, for machines without a GPU.

A KernelBench CUDA candidate builds its kernels at import with
`torch.utils.cpp_extension.load_inline(name=..., cpp_sources=..., cuda_sources=...,
functions=[...])`. Without a GPU the extension cannot be linked against torch's CUDA
libraries nor run, so `install_compile_only()` replaces `load_inline` (in the candidate's
process, before the candidate is imported) with `compile_only_load_inline`, which:

- compiles the CUDA sources with nvcc to a cubin (`-cubin`: the whole file is parsed, device
  code compiled and assembled by ptxas, whose register and spill report is kept in
  `BUILD_INFO`; the host code is checked but not compiled by the host compiler, the slow
  part), with the flags torch uses, for `TORCH_CUDA_ARCH_LIST` or sm_90; and checks the C++
  sources with the Python bindings `load_inline` would generate (`g++ -fsyntax-only`), both at
  once;
- raises `RuntimeError` with the compiler's error lines when either fails;
- returns a stand-in module whose functions raise `NotRun`: the kernels are compiled, not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

_ERROR_LINES = 30


BUILD_INFO: list[str] = []  # ptxas's resource lines ("Used 14 registers, ...") of every build so far


class NotRun(RuntimeError):
    """A compile-only extension function was called: there is no GPU to run it on."""


class _CompiledOnly:
    def __init__(self, name: str, functions: list[str]) -> None:
        self._name, self._functions = name, functions

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)

        def not_run(*_args: Any, **_kwargs: Any) -> Any:
            raise NotRun(f"{self._name}.{attr} was compiled but cannot run: no GPU on this machine")

        return not_run


def _std_flag() -> str:
    import torch.utils.cpp_extension as ext

    source = Path(ext.__file__).read_text(encoding="utf-8")
    return "-std=c++20" if "-std=c++20" in source else "-std=c++17"


def _arch_flags() -> list[str]:
    archs = os.environ.get("TORCH_CUDA_ARCH_LIST", "9.0").replace(";", " ").split()
    flags = []
    for arch in archs:
        num = arch.split("+")[0].replace(".", "")
        flags.append(f"-gencode=arch=compute_{num},code=sm_{num}")
    return flags


# Headers a CUDA build of torch generates at its build time and a CPU-only wheel lacks.
_GENERATED = {
    "c10/cuda/impl/cuda_cmake_macros.h": "#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n",
}


def _compat_includes(folder: Path, torch_includes: list[str]) -> list[str]:
    """An include folder with stand-ins for CUDA-build headers this torch lacks (CPU wheels)."""
    written = False
    for name, text in _GENERATED.items():
        if not any((Path(inc) / name).is_file() for inc in torch_includes):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            written = True
    return [f"-I{folder}"] if written else []


def _bindings(name: str, functions: Any) -> str:
    if isinstance(functions, str):
        functions = [functions]
    items = functions.items() if isinstance(functions, dict) else ((f, f) for f in functions or [])
    lines = [f'm.def("{fn}", torch::wrap_pybind_function({fn}), "{doc}");' for fn, doc in items]
    return "PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {\n" + "\n".join(lines) + "\n}\n"


def compile_only_load_inline(name: str, cpp_sources: Any, cuda_sources: Any = None, functions: Any = None,
                             extra_cflags: Any = None, extra_cuda_cflags: Any = None, **_ignored: Any) -> Any:
    """Compile what `load_inline` would build, without linking or loading it (see the module doc)."""
    import torch.utils.cpp_extension as ext

    join = (lambda s: "\n".join(s) if isinstance(s, (list, tuple)) else (s or ""))
    build = Path(os.environ.get("TORCH_EXTENSIONS_DIR", "torch_extensions")) / name
    build.mkdir(parents=True, exist_ok=True)
    includes = [f"-I{p}" for p in ext.include_paths()] + [f"-I{sysconfig.get_paths()['include']}"]
    includes += _compat_includes(build.parent / "_compat", ext.include_paths())
    defines = [f"-DTORCH_EXTENSION_NAME={name}", "-DTORCH_API_INCLUDE_EXTENSION_H"]
    std = _std_flag()
    main = build / "main.cpp"
    main.write_text("#include <torch/extension.h>\n" + join(cpp_sources) + "\n" + _bindings(name, functions))
    jobs = [[os.environ.get("CXX", "c++"), "-fsyntax-only", std, "-fPIC", *defines, *includes,
             *[f for f in (extra_cflags or []) if f], str(main)]]
    if cuda_sources:
        nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
        cuda = build / "cuda.cu"
        cuda.write_text("#include <torch/types.h>\n#include <cuda.h>\n#include <cuda_runtime.h>\n" + join(cuda_sources))
        jobs.append([nvcc, "-cubin", str(cuda), "-o", str(build / "cuda.cubin"), std, *ext.COMMON_NVCC_FLAGS,
                     *_arch_flags(), "-Xptxas", "-v", *defines, *includes,
                     *[f for f in (extra_cuda_cflags or []) if f and f not in ("-c",)]])
    procs = [subprocess.Popen(job, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for job in jobs]
    failures = []
    for job, proc in zip(jobs, procs):
        out, _ = proc.communicate()
        if proc.returncode != 0:
            errors = [ln for ln in out.splitlines() if "error" in ln.lower()] or out.splitlines()
            failures.append(f"{Path(job[0]).name} failed:\n" + "\n".join(errors[:_ERROR_LINES]))
        BUILD_INFO.extend(ln.strip() for ln in out.splitlines() if ln.startswith("ptxas info") and ("Used" in ln or "spill" in ln))
    if failures:
        raise RuntimeError(f"Error building extension '{name}' (compile only):\n" + "\n".join(failures))
    return _CompiledOnly(name, list(functions or []))


def install_compile_only() -> None:
    """Make `torch.utils.cpp_extension.load_inline` compile only (before the candidate is imported)."""
    import torch.utils.cpp_extension as ext

    ext.load_inline = compile_only_load_inline
    sys.modules["torch.utils.cpp_extension"].load_inline = compile_only_load_inline
