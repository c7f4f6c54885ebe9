"""What evoforge knows of candidate languages: file extension, fence tags, comment style.

One table for the places that need it: the program evaluator names the candidate's file, the
prompts fence code, the edit parser recognises a fenced program, the novelty index skips
comments. It lives in `archives` (the lowest package that needs it) so that archives,
evaluators and agent may all import it. A language not in the table still works: its name is
its fence tag and (letters and digits only) its extension, and it has no comments.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LANGUAGES", "Language", "language"]


@dataclass(frozen=True)
class Language:
    name: str
    extension: str
    """Of the candidate's file, without the dot."""
    fence: str
    """The tag code of this language is fenced with in prompts."""
    tags: frozenset[str]
    """Fence tags an answer may use for a program in this language."""
    comment: str = "none"
    """"hash" (# to the line's end), "slash" (// and /* */) or "none"."""


def _lang(name: str, extension: str, tags: str, comment: str, fence: str | None = None) -> Language:
    return Language(name, extension, fence or name, frozenset({name, *tags.split()}), comment)


_TABLE = (
    _lang("python", "py", "py python3 py3", "hash"),
    _lang("triton", "py", "python py python3", "hash", fence="python"),  # Triton kernels are Python files
    _lang("cuda", "cu", "cu cuh cpp c++", "slash"),
    _lang("cpp", "cpp", "c++ cc cxx hpp", "slash"),
    _lang("c", "c", "h", "slash"),
    _lang("javascript", "js", "js", "slash"),
    _lang("typescript", "ts", "ts", "slash"),
    _lang("rust", "rs", "rs", "slash"),
    _lang("go", "go", "golang", "slash"),
    _lang("java", "java", "", "slash"),
    _lang("julia", "jl", "jl", "hash"),
    _lang("bash", "sh", "sh shell", "hash"),
    _lang("ruby", "rb", "rb", "hash"),
    _lang("r", "r", "", "hash"),
    _lang("perl", "pl", "pl", "hash"),
    _lang("yaml", "yaml", "yml", "hash"),
    _lang("text", "txt", "txt markdown md", "none"),
)
LANGUAGES: dict[str, Language] = {lang.name: lang for lang in _TABLE}
_ALIASES = {"py": "python", "python3": "python", "py3": "python", "c++": "cpp", "cu": "cuda", "js": "javascript",
            "ts": "typescript", "rs": "rust", "shell": "bash", "sh": "bash", "txt": "text"}


def language(name: str) -> Language:
    """The table's entry for a language name or alias (case and spaces ignored), or a plain one."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    found = LANGUAGES.get(key)
    if found is not None:
        return found
    extension = "".join(ch for ch in key if ch.isalnum()) or "txt"
    return Language(key, extension, key, frozenset({key}))
