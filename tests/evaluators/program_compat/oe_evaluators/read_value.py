"""Shared by the evaluators here: the candidate's VALUE (they run beside this file)."""

import importlib.util


def value_of(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return float(module.VALUE)
