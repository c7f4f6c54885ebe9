"""The one language table: file extensions, fence tags and comment styles by name or alias."""

from agent.edits import extract_fenced_program
from archives.languages import language
from archives.novelty import code_tokens
from evaluators.program.evaluator import program_file_name


def test_names_and_aliases_find_the_same_entry():
    assert language("Python") is language("py") is language(" python3 ") is language("python")
    assert language("c++") is language("cpp") and language("cu") is language("cuda")
    assert language("triton").extension == "py" and language("triton").fence == "python"


def test_an_unknown_language_is_its_own_tag_without_comments():
    zig = language("Zig")
    assert (zig.name, zig.extension, zig.fence, zig.comment) == ("zig", "zig", "zig", "none")
    assert zig.tags == frozenset({"zig"})
    assert program_file_name("Zig") == "program.zig" and program_file_name("c++") == "program.cpp"


def test_every_user_of_the_table_agrees():
    assert program_file_name("cuda") == "program.cu"
    answer = "```cu\n__global__ void k() {}\n```\n```text\nnotes\n```"
    assert extract_fenced_program(answer, "cuda").strip() == "__global__ void k() {}"
    assert "//" not in code_tokens("int x; // a comment\n", "cuda")
    assert "#" not in code_tokens("x = 1  # a comment\n", "triton")
