"""Three stages, each with a combined_score; stage 1 alone reports runs_successfully (a bool)."""

from read_value import value_of


def evaluate_stage1(program_path):
    value = value_of(program_path)
    return {"runs_successfully": True, "combined_score": value / 10, "stage1_only": 7}


def evaluate_stage2(program_path):
    value = value_of(program_path)
    return {"combined_score": value / 10 + 0.05, "speed": value * 2}


def evaluate_stage3(program_path):
    value = value_of(program_path)
    return {"combined_score": value / 10 + 0.1, "speed": value * 3, "final": 1}


def evaluate(program_path):
    return evaluate_stage1(program_path)
