"""A plain dict: combined_score, another metric, a text value."""

from read_value import value_of


def evaluate(program_path):
    value = value_of(program_path)
    return {"combined_score": value / 10, "value": value, "summary": f"VALUE is {value:g}"}
