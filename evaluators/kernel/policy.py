"""The static policy: what a candidate's source may not do, checked before it runs.

A candidate must compute with its own kernels. Read from the syntax tree (never by running
it), a candidate is rejected when it:

- defines no `class ModelNew` with a `forward`, or (Triton) no `@triton.jit` kernel, or
  (CUDA) no `__global__` kernel in its sources;
- calls an operator that does the reference's work: every torch operator the reference's
  `Model` calls (by name: `torch.softmax`, `F.softmax`, `x.softmax()`, `nn.Softmax()(x)`, the
  `@` operator for matmul), plus vendor-library operators (matmul, convolution, attention,
  FFT) always, unless the task allows them (`kernel.allow_ops`); a module such as
  `nn.Linear` may hold the weights but may not be called;
- uses `try`/`except` inside a function (the classic fallback to the reference when the
  kernel fails) or imports the reference;
- reaches for the judge: imports `gc`, `inspect`, `ctypes`, `importlib`, `subprocess`,
  `socket`, `multiprocessing`, `threading`, `signal`, `pickle`, `marshal`, `builtins`; calls
  `eval`, `exec`, `compile`, `__import__`, `open`, `globals`, `locals`, `vars`, or `getattr`
  / `setattr` / `delattr` with a computed name; touches dunder internals (`__dict__`,
  `__globals__`, `__subclasses__`, `__builtins__`, `__code__`); uses `sys` beyond `sys.path`
  / `sys.version_info`; assigns attributes of torch, triton, time, math or builtins.

Code under `if __name__ == "__main__":` is ignored. This is a first line of defence; the
runtime guards (guards.py) and, on a GPU, the profiler check (own kernels ran, no vendor
kernels) back it up.
"""

from __future__ import annotations

import ast
import builtins
import re

BANNED_MODULES = frozenset({
    "gc", "inspect", "ctypes", "importlib", "subprocess", "socket", "multiprocessing", "threading",
    "signal", "pickle", "marshal", "builtins", "_thread", "resource", "pty", "shutil", "urllib", "http",
    "requests", "cffi", "asyncio", "concurrent",
    # raw CUDA driver/runtime access from Python (stream attributes, context limits, raw copies)
    "cuda", "cupy", "numba", "pycuda", "cuda_python", "nvidia", "jax", "tensorflow",
})
BANNED_CALLS = frozenset({"eval", "exec", "compile", "__import__", "open", "globals", "locals", "vars",
                          "breakpoint", "input"})
BANNED_DUNDERS = frozenset({"__dict__", "__globals__", "__subclasses__", "__builtins__", "__code__",
                            "__closure__", "__getattribute__", "__setattr__", "__class__", "__bases__",
                            "__mro__", "__loader__", "__spec__", "__self__", "__func__", "__wrapped__"})
BANNED_SUBMODULES = ("torch.multiprocessing", "torch.distributed", "torch._C", "torch._dynamo", "torch.overrides")
_BANNED_NAMES = BANNED_CALLS | {"setattr", "delattr"}  # even passed around, not called: partial(setattr, torch)
SYS_ALLOWED = frozenset({"path", "version_info", "version", "maxsize", "platform"})
OS_ALLOWED = frozenset({"environ", "path", "getenv", "cpu_count", "makedirs", "getcwd", "sep", "pathsep",
                        "listdir", "name"})
PROTECTED_ROOTS = frozenset({"torch", "triton", "tl", "time", "math", "builtins", "F", "nn", "statistics"})
# Operators whose work a vendor library does (cuBLAS, cuDNN, cuFFT, flash attention): never allowed.
VENDOR_OPS = frozenset({
    "matmul", "mm", "bmm", "addmm", "addbmm", "baddbmm", "addmv", "mv", "dot", "vdot", "inner", "outer",
    "einsum", "tensordot", "linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
    "conv_transpose2d", "conv_transpose3d", "convolution", "scaled_dot_product_attention",
    "multi_head_attention_forward", "fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn",
    "ifftn", "rfftn", "irfftn", "chain_matmul", "multi_dot", "cdist", "_scaled_mm", "lstm", "gru", "rnn_tanh",
    "rnn_relu", "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "MultiheadAttention", "LSTM", "GRU", "RNN", "Transformer", "TransformerEncoderLayer",
})
# Calls that move, view or allocate data and do none of an operator's work: never forbidden.
UTILITY = frozenset({
    "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones", "ones_like", "full", "full_like",
    "arange", "tensor", "as_tensor", "view", "view_as", "reshape", "reshape_as", "contiguous", "size", "dim",
    "numel", "stride", "to", "cuda", "cpu", "float", "half", "bfloat16", "double", "int", "long", "bool",
    "type", "t", "transpose", "permute", "unsqueeze", "squeeze", "expand", "expand_as", "flatten", "unflatten",
    "data_ptr", "is_contiguous", "item", "clone", "copy_", "new_empty", "new_zeros", "new_ones", "new_full",
    "element_size", "get_device", "narrow", "detach", "requires_grad_", "fill_", "zero_", "super", "range",
    "len", "isinstance", "print", "list", "tuple", "dict", "min", "max", "abs", "round", "enumerate",
    "zip", "int_", "cdiv", "next_power_of_2", "Parameter", "register_buffer", "parameters", "append",
    "extend", "format", "join", "split", "chunk", "items", "keys", "values", "get", "is_floating_point",
    "numpy", "tolist", "movedim", "broadcast_to", "unbind", "select", "index_select", "masked_fill",
    "__init__", "forward", "eval", "train", "apply", "ModuleList", "Sequential", "Module", "Identity",
    "manual_seed", "no_grad", "device", "dtype", "finfo", "iinfo", "current_device", "current_stream",
    "synchronize", "sqrt", "ceil", "floor", "log2", "prod", "cat", "stack", "where",
})
# __global__, then the return type and qualifiers, then the name and "(" (__launch_bounds__(...) removed first).
_GLOBAL_KERNEL = re.compile(r"__global__\s+(?:[\w:<>&\*]+\s+)*?\**(\w+)\s*\(")
_LAUNCH_BOUNDS = re.compile(r"__launch_bounds__\s*\([^)]*\)")


def _snake(name: str) -> str:
    special = {"ReLU": "relu", "GELU": "gelu", "SELU": "selu", "CELU": "celu", "ELU": "elu", "SiLU": "silu",
               "PReLU": "prelu", "RReLU": "rrelu", "LeakyReLU": "leaky_relu", "ReLU6": "relu6",
               "GLU": "glu", "LogSoftmax": "log_softmax", "Softmax2d": "softmax"}
    if name in special:
        return special[name]
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def called_names(tree: ast.AST) -> set[str]:
    """Names of everything called: `f(...)` gives f, `a.b.f(...)` gives f; `x @ y` gives matmul."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                names.add(func.attr)
            elif isinstance(func, ast.Name):
                names.add(func.id)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            names.add("matmul")
    return names


def reference_ops(reference_source: str) -> set[str]:
    """The torch operators the reference's Model uses, by name (module classes as their functions).

    Everything its methods call except `__init__`, where only module classes count (nn.Linear
    built there is used in forward; torch.randn initialising a weight is not the op's work).
    """
    tree = ast.parse(reference_source)
    model = next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == "Model"), None)
    if model is None:
        return set()
    names: set[str] = set()
    for item in model.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            names |= {n for n in called_names(item) if n[:1].isupper()}
        else:
            names |= called_names(item)
    ops = set()
    for name in names:
        if name in UTILITY or name.startswith("_"):
            continue
        ops.add(name)
        if name[:1].isupper():
            ops.add(_snake(name))
    return ops


def own_kernels(source: str, language: str) -> list[str]:
    """Names of the kernels the candidate defines: @triton.jit functions or CUDA __global__ functions."""
    tree = ast.parse(source)
    if language == "triton":
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any("jit" in ast.unparse(d) for d in node.decorator_list):
                found.append(node.name)
        return found
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return sorted({m for text in strings for m in _GLOBAL_KERNEL.findall(_LAUNCH_BOUNDS.sub(" ", text))
                   if not m.startswith("__")})


def _strip_main(tree: ast.Module) -> ast.Module:
    body = [n for n in tree.body if not (isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))]
    return ast.Module(body=body, type_ignores=[])


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def check(source: str, reference_source: str, language: str, allow_ops: frozenset[str] = frozenset(),
          reference_module: str = "reference") -> list[str]:
    """Every policy violation of `source`, one readable line each (empty: it may run)."""
    try:
        tree = _strip_main(ast.parse(source))
    except SyntaxError as exc:
        return [f"SyntaxError: {exc.msg} (line {exc.lineno})"]
    problems: list[str] = []
    model = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ModelNew"), None)
    if model is None:
        problems.append("no class ModelNew: the candidate must define class ModelNew(nn.Module)")
    elif not any(isinstance(n, ast.FunctionDef) and n.name == "forward" for n in model.body):
        problems.append("ModelNew defines no forward method")
    if not own_kernels(source, language):
        what = "@triton.jit kernel" if language == "triton" else "__global__ CUDA kernel (in the load_inline sources)"
        problems.append(f"the candidate defines no {what}: it must compute with its own kernels")
    forbidden = (reference_ops(reference_source) | VENDOR_OPS) - allow_ops
    context = _Context(forbidden, _module_attrs(model), _extension_names(tree), reference_module, _aliases(tree))
    context.defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    device_code = {id(n) for f in _jit_functions(tree) for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            node.func._called = True  # a direct call: judged by _call_problems
    for node in ast.walk(tree):
        problems.extend(_node_problems(node, context, in_kernel=id(node) in device_code))
    return list(dict.fromkeys(problems))


class _Context:
    def __init__(self, forbidden: set[str], module_attrs: dict[str, str], extensions: set[str], reference: str,
                 aliases: dict[str, str]):
        self.forbidden, self.module_attrs, self.extensions, self.reference = forbidden, module_attrs, extensions, reference
        self.aliases = aliases
        self.defined: set[str] = set()

    def root(self, node: ast.AST) -> str | None:
        """The name an attribute chain starts from, with import aliases undone (`import os as o`: o is os)."""
        name = _root(node)
        return self.aliases.get(name, name) if name is not None else None


_CANONICAL = {"torch.nn.functional": "F", "torch.nn": "nn", "triton.language": "tl"}


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> canonical root for `import X as Y` and `from X import Y as Z` of modules."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = _CANONICAL.get(alias.name, alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in _CANONICAL:
                    found[alias.asname or alias.name] = _CANONICAL[full]
    return found


def _jit_functions(tree: ast.AST) -> list[ast.FunctionDef]:
    return [n for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and any("jit" in ast.unparse(d) for d in n.decorator_list)]


def _extension_names(tree: ast.AST) -> set[str]:
    """Names bound to a compiled extension (x = load_inline(...)), and self attributes holding one."""
    names: set[str] = set()
    loaders = {"load_inline"} | {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                                 and (n.module or "").endswith("cpp_extension") for a in n.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            text = ast.unparse(func)
            if text in loaders or (isinstance(func, ast.Attribute) and "cpp_extension" in text):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in names:
            names.update(t.attr for t in node.targets if isinstance(t, ast.Attribute) and _root(t) == "self")
    return names


def _module_attrs(model: ast.ClassDef | None) -> dict[str, str]:
    """self.<attr> = nn.<Class>(...) assignments in ModelNew: attr -> class name."""
    found: dict[str, str] = {}
    for node in ast.walk(model) if model is not None else ():
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            cls = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            for target in node.targets:
                if isinstance(target, ast.Attribute) and _root(target) == "self" and cls[:1].isupper():
                    found[target.attr] = cls
    return found


def _node_problems(node: ast.AST, ctx: _Context, in_kernel: bool) -> list[str]:
    line = f" (line {getattr(node, 'lineno', '?')})"
    forbidden, reference = ctx.forbidden, ctx.reference
    if isinstance(node, ast.Name) and node.id in _BANNED_NAMES and not getattr(node, "_called", False):
        return [f"uses {node.id}{line}: not allowed in a kernel candidate"]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top in BANNED_MODULES or name.startswith(BANNED_SUBMODULES):
                return [f"imports {name}{line}: not allowed in a kernel candidate"]
            if top == reference or top == "reference":
                return [f"imports the reference ({name}){line}: compute the result with your own kernels"]
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "sys"):
            allowed = OS_ALLOWED if node.module == "os" else SYS_ALLOWED
            bad = [a.name for a in node.names if a.name not in allowed]
            if bad:
                return [f"imports {node.module}.{bad[0]}{line}: not allowed in a kernel candidate"]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if any(isinstance(n, ast.Try) for n in ast.walk(node)):
            return [f"try/except in {node.name}(){line}: no fallback paths; let errors surface"]
    if isinstance(node, ast.Attribute):
        root = ctx.root(node)
        if node.attr in BANNED_DUNDERS:
            return [f"uses {node.attr}{line}: interpreter internals are off limits"]
        if root == "sys" and node.attr not in SYS_ALLOWED and isinstance(node.value, ast.Name):
            return [f"uses sys.{node.attr}{line}: not allowed in a kernel candidate"]
        if root == "os" and isinstance(node.value, ast.Name) and node.attr not in OS_ALLOWED:
            return [f"uses os.{node.attr}{line}: not allowed in a kernel candidate"]
        if (not in_kernel and root in ("torch", "F", "nn") and node.attr in forbidden and node.attr not in UTILITY
                and not node.attr[:1].isupper()):  # a module class may be built to hold weights
            return [f"uses {ast.unparse(node)}{line}: that operator does the reference's work; write the kernel"]
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and ctx.root(target) in PROTECTED_ROOTS:
                return [f"assigns {ast.unparse(target)}{line}: patching torch, triton or the timers is not allowed"]
    if in_kernel:
        return []  # Triton device code: tl.sum, tl.exp... are the kernel's own work
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) and "matmul" in forbidden:
        return [f"uses the @ operator{line}: a library matmul does the work; write the kernel"]
    if isinstance(node, ast.Call):
        return _call_problems(node, ctx, line)
    return []


_KERNEL_ROOTS = frozenset({"tl", "triton", "libdevice", "math", "tle"})
_BUILTINS = frozenset(dir(builtins))


def _call_problems(node: ast.Call, ctx: _Context, line: str) -> list[str]:
    forbidden, module_attrs = ctx.forbidden, ctx.module_attrs
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if isinstance(func, ast.Name) and func.id in BANNED_CALLS:
        return [f"calls {func.id}(){line}: not allowed in a kernel candidate"]
    if isinstance(func, ast.Name) and func.id in ("getattr", "setattr", "delattr", "hasattr"):
        if len(node.args) < 2 or not isinstance(node.args[1], ast.Constant):
            return [f"calls {func.id}() with a computed name{line}: not allowed in a kernel candidate"]
        target = ctx.root(node.args[0])
        if func.id in ("setattr", "delattr") and target in PROTECTED_ROOTS:
            return [f"calls {func.id}() on {target}{line}: not allowed in a kernel candidate"]
    if isinstance(func, ast.Call):  # nn.Softmax(dim=1)(x)
        inner = func.func
        cls = inner.attr if isinstance(inner, ast.Attribute) else inner.id if isinstance(inner, ast.Name) else ""
        if cls in forbidden or _snake(cls) in forbidden:
            return [f"calls a {cls} module{line}: it does the reference's work; write the kernel"]
    if isinstance(func, ast.Attribute) and _root(func) == "self" and isinstance(func.value, ast.Name):
        cls = module_attrs.get(func.attr, "")
        if cls and (cls in forbidden or _snake(cls) in forbidden):
            return [f"calls self.{func.attr} (a {cls}){line}: it does the reference's work; use its weights in your kernel"]
    root = ctx.root(func)
    if root in _KERNEL_ROOTS or root in ctx.extensions or (isinstance(func, ast.Name) and func.id in _BUILTINS):
        return []
    if isinstance(func, ast.Name) and func.id in ctx.defined:
        return []  # the candidate's own function, whatever its name
    if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Attribute) and _root(func) == "self"
            and func.value.attr in ctx.extensions):
        return []  # self.ext.my_kernel(x): the candidate's own compiled function
    if name and name not in UTILITY and name in forbidden and not name[:1].isupper():
        return [f"calls {ast.unparse(func)}(){line}: that operator does the reference's work; write the kernel"]
    return []
