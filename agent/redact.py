"""Scrub what looks like a credential out of text bound for an LLM prompt.

Evaluation feedback is whatever a candidate printed; a candidate that found a key (a file it
could read, an environment it should not have seen) would send it to the LLM provider in the
next prompt. `redact` replaces, with "[redacted]": well-known key formats (OpenAI, Anthropic,
AWS, GitHub, Google, Slack, Hugging Face), bearer tokens, PEM private key blocks, and the
values of this process's environment variables whose names look secret (*KEY*, *TOKEN*,
*SECRET*, *PASSWORD*, ...). It errs on the side of redacting.
"""

from __future__ import annotations

import os
import re

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)
_MIN_VALUE = 8  # shorter environment values ("1", "true") are not worth redacting everywhere
_PATTERNS = re.compile(
    "|".join(
        (
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            r"\bsk-ant-[A-Za-z0-9_\-]{10,}",
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}",
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
            r"\bgh[pousr]_[A-Za-z0-9]{20,}",
            r"\bgithub_pat_[A-Za-z0-9_]{20,}",
            r"\bAIza[0-9A-Za-z_\-]{30,}",
            r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
            r"\bhf_[A-Za-z0-9]{20,}",
            r"(?i:\bbearer)\s+[A-Za-z0-9._~+/\-]{8,}=*",
            # aws_secret_access_key = ..., "api_key": "...", password: ... (the value only)
            r"(?i:(?<=secret_access_key)|(?<=api_key)|(?<=apikey)|(?<=password)|(?<=passwd)|(?<=token))"
            r"[\"']?\s*[:=]\s*[\"']?[^\s\"',;]{8,}",
        )
    )
)


def _secret_values() -> list[str]:
    values = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v.strip()) >= _MIN_VALUE}
    return sorted((v.strip() for v in values), key=len, reverse=True)  # longest first: no partial leftovers


def redact(text: str) -> str:
    """`text` with every likely credential replaced by "[redacted]"."""
    if not text:
        return text
    for value in _secret_values():
        text = text.replace(value, REDACTED)
    return _PATTERNS.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    found = match.group(0)
    if found[:1] in "\"':= \t" and not found.startswith("-----"):  # a key = value: keep the separator
        separator = re.match(r"[\"']?\s*[:=]\s*[\"']?", found)
        return (separator.group(0) if separator else "") + REDACTED
    return REDACTED
