"""Which of the candidate's failures are compile errors (status build_failed), not wrong answers.

On a GPU, Triton compiles a kernel at its first call for each specialisation and raises
CompilationError (or a subclass) for an undefined name, a wrong argument or a shape that does not
fit; a CUDA build fails with CalledProcessError (errors at import are the compile stage's anyway).
Triton's interpreter (no GPU) runs the kernel's Python instead and wraps whatever it raises in
InterpreterError: the same mistakes then surface as NameError, TypeError, ... inside it. Those
are what the compiler rejects before anything runs, so they count as compile errors too; an
assertion (device_assert), an index or runtime error inside the kernel does not, except
tl.static_assert, which the compiler checks.
"""

from __future__ import annotations

import re
from typing import Any

BUILD_FAILED = "build_failed"
"""A failed stage's "status" when the judge knows it is a compile error (read by evaluator.py)."""

_COMPILER = ("CompilationError", "CompileTimeAssertionFailure", "UnsupportedLanguageConstruct", "CalledProcessError")
_CAUGHT_BY_THE_COMPILER = ("NameError", "UnboundLocalError", "TypeError", "AttributeError", "ImportError",
                           "SyntaxError", "ValueError", "NotImplementedError")
_WRAPPED = re.compile(r"\b([A-Za-z_]\w*(?:Error|Exception))\(")


def is_compile_error(reply: dict[str, Any]) -> bool:
    """Whether a failed reply of the candidate's process (runner._failure) is a compile error."""
    kind = str(reply.get("error_type") or "")
    if kind in _COMPILER:
        return True
    if kind != "InterpreterError":
        return False
    if "in _new_static_assert" in str(reply.get("log") or ""):
        return True
    inner = [name for name in _WRAPPED.findall(str(reply.get("error") or "")) if name != "InterpreterError"]
    return bool(inner) and inner[0] in _CAUGHT_BY_THE_COMPILER


def compile_message(reply: dict[str, Any]) -> str:
    """One line: the kernel did not compile, and the compiler's (or interpreter's) reason."""
    error = str(reply.get("error") or "the kernel did not compile")
    if reply.get("error_type") == "InterpreterError":
        return f"the kernel does not compile (Triton's interpreter raised {_unwrapped(error)})"
    return error


def _unwrapped(error: str) -> str:
    """`...InterpreterError: InterpreterError('TypeError("...")')` as `TypeError("...")`."""
    text = error.split("InterpreterError: ", 1)[-1]
    while text.startswith("InterpreterError(") and text.endswith(")"):
        text = text[len("InterpreterError("):-1]
        if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1].replace("\\" + text[0], text[0])
    return text
