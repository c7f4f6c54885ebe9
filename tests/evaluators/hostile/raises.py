"""An evaluator that fails with an exception."""


def evaluate(program_path):
    helper(program_path)


def helper(path):
    raise ValueError(f"cannot parse the output of {path.rsplit('/', 1)[-1]}")
