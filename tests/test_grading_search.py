"""A handout that searches every file it may enter, graded with make grade from this copy.

A module of its own: the attack suite's simulated /autograder root, readable by every user as on
Gradescope, lives as long as that module's tests, and a search would rightly find it there.
The grader closes the copy it runs from; other copies on the machine are out of its reach (CI runs
in a fresh clone beside the session's checkout), so the search is judged on this copy and the
results file.
"""
import os
from pathlib import Path

import pytest

from tools.autograde import ROOT, grade
from tools.grading_attacks import SEARCH_EVERY_FILE
from tools.student_copy import make_handout

# gradings as root share the sandbox user (one checks that none of its processes outlives it): they take turns
pytestmark = pytest.mark.usefixtures("autograder_turn")


@pytest.mark.skipif(os.geteuid() != 0, reason="file isolation needs a grader running as root")
def test_a_search_of_every_file_finds_nothing_of_the_instructors(tmp_path):
    """The search looks for the hidden tests, fixtures, results, grader or a reference and finds
    none of those the grader guards: in the copy it runs from, or the results file; it scores 0."""
    handout = tmp_path / "handout"
    make_handout(handout)
    submission = tmp_path / "s"
    submission.mkdir()
    (submission / "ddpm.py").write_text((handout / "ddpm.py").read_text())
    (submission / "utils.py").write_text((handout / "utils.py").read_text() + SEARCH_EVERY_FILE)
    report = grade(submission, tmp_path / "results.json", quiet=True)
    said = {test["output"] for test in report["tests"] if "FOUND" in test["output"]}
    assert report["score"] == 0 and said, report["tests"][:2]
    guarded = (ROOT, tmp_path)
    for output in said:
        found = output.split("FOUND", 1)[1].split("(utils.py")[0].strip()
        read = [path for path in found.split(" | ") if path and any(Path(path).is_relative_to(top) for top in guarded)]
        assert read == [], f"the submission read {read}"
