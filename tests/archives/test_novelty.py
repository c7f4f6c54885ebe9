"""Token shingles, the stable MinHash sketch, and the near-duplicate index."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from archives.novelty import Fingerprint, NoveltyIndex, code_tokens, jaccard, shingles, stable_hash

PROGRAM = '''def total(values, n):
    s = "# not a comment"  # a comment
    acc = 0
    for i in range(n):
        acc += values[i]
    return acc
'''


def test_comments_and_spacing_are_ignored_but_strings_and_indentation_are_not():
    same = PROGRAM.replace("# a comment", "# another comment").replace("acc = 0", "acc   =   0")
    assert code_tokens(same) == code_tokens(PROGRAM)
    assert '"# not a comment"' in code_tokens(PROGRAM)
    # Moving a statement out of the loop changes what Python does, so it changes the tokens.
    dedented = PROGRAM.replace("        acc += values[i]", "    acc += values[i]")
    assert code_tokens(dedented) != code_tokens(PROGRAM)
    assert Fingerprint.of(dedented).similarity(Fingerprint.of(PROGRAM)) < 1.0


def test_c_like_languages_drop_slash_comments_and_keep_preprocessor_lines():
    a = "#define N 4\nint f(int x) { // add\n  return x + N; /* done */\n}\n"
    b = "#define N 4\nint f(int x) {\n  return x + N;\n}\n"
    assert code_tokens(a, "cuda") == code_tokens(b, "cuda")
    assert "define" in code_tokens(a, "cuda")
    assert code_tokens("x = 1  # note", "python") != code_tokens("x = 1  # note", "text")


def test_stable_hash_is_the_same_in_another_process_with_another_hash_seed():
    code = (
        "from archives.novelty import Fingerprint, stable_hash;"
        f"print(stable_hash('x[0] += 1'), Fingerprint.of({PROGRAM!r}).sketch[:5])"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root))
        outputs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
    assert len(outputs) == 1
    assert outputs.pop().split()[0] == str(stable_hash("x[0] += 1"))


def test_jaccard_and_shingles_count_shared_runs_of_tokens():
    a = shingles(list("abcdef"), 3)  # abc bcd cde def
    b = shingles(list("abcdxy"), 3)  # abc bcd cdx dxy
    assert len(a) == 4 and jaccard(a, b) == pytest.approx(2 / 6)
    assert jaccard(frozenset(), frozenset()) == 1.0
    assert len(shingles(["only", "two"], 3)) == 1


def test_minhash_estimate_is_exact_for_small_programs_and_close_for_large_ones():
    small_a, small_b = Fingerprint.of(PROGRAM), Fingerprint.of(PROGRAM.replace("acc = 0", "acc = 1"))
    assert small_a.estimate(small_b) == small_a.similarity(small_b) < 1.0
    rng = random.Random(0)
    lines = [f"v{i} = {rng.randrange(1000)} * w{i % 7}" for i in range(300)]
    big_a = Fingerprint.of("\n".join(lines))
    for changed in (10, 60, 150):
        other = list(lines)
        for i in rng.sample(range(300), changed):
            other[i] = f"u{i} = {rng.randrange(1000)} + z"
        big_b = Fingerprint.of("\n".join(other))
        assert len(big_a.sketch) == 128
        assert abs(big_a.estimate(big_b) - big_a.similarity(big_b)) < 0.15
    assert big_a.distance(big_a) == 0.0


def test_index_finds_cosmetic_twins_and_lets_real_edits_through():
    index = NoveltyIndex(threshold=1.0)
    index.add("p1", PROGRAM)
    assert index.near_twin(PROGRAM.replace("# a comment", "")) == ("p1", 1.0)
    assert index.near_twin(PROGRAM.replace("acc = 0", "acc = 1")) is None
    # One token changed in a long program is not "identical", even where the sketch cannot tell.
    long = "\n".join(f"v{i} = {i} * w" for i in range(400))
    index.add("long", long)
    assert index.near_twin(long.replace("v399 = 399", "v399 = 398")) is None


def test_lower_threshold_rejects_small_edits_of_good_programs_but_not_of_failed_ones():
    index = NoveltyIndex(threshold=0.8)
    index.add("good", PROGRAM)
    index.add("bad", PROGRAM.replace("def total", "def broken"), strict=True)
    edit = PROGRAM.replace("acc = 0", "acc = 1")
    twin, sim = index.near_twin(edit)
    assert twin == "good" and 0.8 <= sim < 1.0
    fix = PROGRAM.replace("def total", "def broken").replace("acc = 0", "acc = 2")
    assert index.near_twin(fix) is None  # close to the failed program, but a failed one needs 1.0
    only_bad = NoveltyIndex(threshold=0.8)
    only_bad.add("bad", PROGRAM, strict=True)
    assert only_bad.near_twin(edit) is None  # a small change to a failed program may be its fix
    assert only_bad.near_twin(PROGRAM + "\n# same code\n") == ("bad", 1.0)
    with pytest.raises(ValueError):
        NoveltyIndex(threshold=0.0)
