"""A handout that searches every file it may enter, graded with make grade from this copy.

A module of its own: the attack suite's simulated /autograder root, readable by every user as on
Gradescope, lives as long as that module's tests, and a search would rightly find it there.
"""
import os

import pytest

from tools.autograde import grade
from tools.grading_attacks import SEARCH_EVERY_FILE
from tools.make_handout import make_handout


@pytest.mark.skipif(os.geteuid() != 0, reason="file isolation needs a grader running as root")
def test_a_search_of_every_file_finds_nothing_of_the_instructors(tmp_path):
    """The search looks for the hidden tests, fixtures, results, grader or a reference and finds
    none of them (it finds its own files only, which carry no solution markers); it scores 0."""
    handout = tmp_path / "handout"
    make_handout(handout)
    submission = tmp_path / "s"
    submission.mkdir()
    (submission / "ddpm.py").write_text((handout / "ddpm.py").read_text())
    (submission / "utils.py").write_text((handout / "utils.py").read_text() + SEARCH_EVERY_FILE)
    report = grade(submission, tmp_path / "results.json", quiet=True)
    said = {test["output"] for test in report["tests"] if "FOUND" in test["output"]}
    assert report["score"] == 0 and said, report["tests"][:2]
    for output in said:
        found = output.split("FOUND", 1)[1].split("(utils.py")[0].strip()
        assert found == "", f"the submission read {found}"
