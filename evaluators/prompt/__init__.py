"""Prompt tasks (`kind: prompt`): a prompt scored by a target model's answers on a data set.

config.py (the `prompt_task:` keys), data.py (JSONL examples and splits), render.py (prompt +
example -> chat messages), target.py and cache.py (cached calls to the target model through
the LLM gateway), scoring.py and judge.py (an answer's score and feedback), stats.py
(confidence intervals), evaluator.py (the staged evaluation), kind.py (the task kind).
docs/prompt-tasks.md is the user's guide.
"""
