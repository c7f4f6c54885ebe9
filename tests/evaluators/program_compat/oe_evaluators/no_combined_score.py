"""No combined_score: OpenEvolve's fitness is the mean of the numeric metrics (bools left out,
a numeric `error` counted), MAP-Elites feature dimensions left out."""

from read_value import value_of


def evaluate(program_path):
    value = value_of(program_path)
    return {"accuracy": value / 10, "speed": value / 2, "error": 0.0, "passed": True,
            "loc": 40, "note": "no combined_score here"}
