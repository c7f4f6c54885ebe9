"""The learning proposer's parts (docs/learning.md): model choice by bandit and roles
(bandit.py, model_choice.py), meta-prompt co-evolution (metaprompts.py), plan then implement
(planning.py), a knowledge base across runs (knowledge*.py), the profile diagnosis
(diagnosis.py); parts.py says what each is credited with, build.py makes them from a task,
audit.py and show.py read back what they did."""
