"""Three stages without combined_score (as OpenEvolve's AlgoTune examples): the gates compare
the mean of the numeric values other than `error`, bools counted as 0/1."""

from read_value import value_of


def evaluate_stage1(program_path):
    value = value_of(program_path)
    return {"runs_successfully": 1.0, "correct": value / 10, "valid": value > 2,
            "error": 0.0, "status": "stage 1 ran"}


def evaluate_stage2(program_path):
    value = value_of(program_path)
    return {"correct": value / 10, "speedup": value / 5}


def evaluate_stage3(program_path):
    value = value_of(program_path)
    return {"speedup": value / 4, "robust": 0.5}


def evaluate(program_path):
    return evaluate_stage1(program_path)
