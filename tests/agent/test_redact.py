"""Credentials in evaluation feedback never reach an LLM prompt: `agent.redact` and its use."""

from __future__ import annotations

import pytest

from agent.prompts import PromptBuilder
from agent.redact import REDACTED, redact
from archives.records import Status
from tests.agent.test_prompts import context, program, user_text

# Assembled at run time, so no scanner mistakes this file for a leak.
KEYS = {
    "openai": "sk-" + "proj-" + "Ab1" * 12,
    "openai_legacy": "sk-" + "Zy9" * 16,
    "anthropic": "sk-ant-" + "api03-" + "Qw2" * 12,
    "aws": "AKIA" + "IOSFODNN7EXAMPL1",
    "github": "ghp_" + "R4t" * 12,
    "github_pat": "github_pat_" + "11AB" * 8,
    "google": "AIza" + "Sy" + "Kk7" * 12,
    "bearer": "Bearer " + "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
    "pem": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabcd\n-----END RSA " + "PRIVATE KEY-----",
}


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_each_key_format_is_redacted(kind):
    text = f"before {KEYS[kind]} after"
    out = redact(text)
    assert KEYS[kind].split()[-1] not in out and REDACTED in out
    assert out.startswith("before ") and out.endswith(" after")


def test_values_of_secret_looking_environment_variables_are_redacted(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-looking-value-42")
    monkeypatch.setenv("DB_PASSWORD", "hunter2hunter2")
    monkeypatch.setenv("HARMLESS", "plain-looking-value-43")
    out = redact("token plain-looking-value-42, pw hunter2hunter2, other plain-looking-value-43")
    assert out == f"token {REDACTED}, pw {REDACTED}, other plain-looking-value-43"


def test_ordinary_feedback_is_left_alone():
    text = "speedup 1.52x; max_abs_err 3e-06; task-softmax_triton ok; KEY_ERROR: 3 rows; tokens: 12"
    assert redact(text) == text


def test_feedback_errors_and_previous_errors_reach_the_prompt_redacted(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-" + "controller" * 3)
    parent = program(status=Status.ERROR, fitness=None, error=f"crashed near {KEYS['aws']}",
                     feedback=f"stdout: {KEYS['openai']}\n{KEYS['pem']}\nsaw sk-live-" + "controller" * 3)
    ctx = context(parent, previous_errors=(f"edit failed: {KEYS['github']}",))
    text = user_text(PromptBuilder().build(ctx))
    for secret in (KEYS["aws"], KEYS["openai"], "MIIEowIBAAKCAQEA7", "controller" * 3, KEYS["github"]):
        assert secret not in text
    assert text.count(REDACTED) >= 5
