"""Test doubles that speak real protocols: `tests.fakes.openai_server` (an OpenAI-compatible server)."""
