"""The attack suite: each submission of tools/grading_attacks.py, graded through autograder.zip in a
root laid out like Gradescope's, gets what it deserves and leaves a valid results file, the
autograder's files unchanged and no process behind.

An attack on the handout must score 0 on every graded test. An attack planted in the reference
must cost exactly the tests it breaks, each with a message that names the limit; all other
tests keep full marks. The attacks that only file permissions stop need a grader running as root
(Gradescope, CI); elsewhere they are skipped. The attacks that aim outside the autograder, and the
attacks on it in every setting, are graded by tests/test_grading_isolation.py.
"""
import json
import os
import pwd
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.gradescope import fingerprint, run_autograder, unpack_autograder
from tools.autograde import ROOT, grade, isolation_here
from tools.grading_attacks import ATTACKS, UNPICKLE_MARKER, attack_submission
from tools.student_copy import make_handout

sys.path.append(str(ROOT / "grading"))  # the grader's modules import each other by their plain names
from sandbox import SANDBOX_USER, tasks_of  # noqa: E402

# gradings as root share the sandbox user (one checks that none of its processes outlives it): they take turns
pytestmark = pytest.mark.usefixtures("autograder_turn")


ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="file isolation needs a grader running as root")

CALLS_Q_SAMPLE = {"test_q_sample_with_injected_noise", "test_p_losses_l2", "test_p_losses_other_losses[l1]",
                  "test_p_losses_other_losses[huber]", "test_end_to_end_training_and_sampling"}
"""The graded tests whose probes run utils.q_sample (directly, through p_losses or in training)."""
NEED_NO_UTILS = {"test_fourier_features", "test_unet_blocks", "test_unet_forward_shape_and_inputs",
                 "test_unet_computes_the_specified_blocks", "test_unet_other_widths", "test_environment_imports_the_mixture"}
"""The graded tests whose probes import only ddpm.py and gmm.py."""


@pytest.fixture(scope="module")
def autograder_root():
    root = unpack_autograder()
    yield root
    shutil.rmtree(root.parent)


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("handout") / "handout"
    make_handout(out)
    return out


def check_results_file(root: Path) -> dict:
    """results.json is valid Gradescope output: a score that is the sum of its tests, each well formed."""
    report = json.loads((root / "results" / "results.json").read_text())
    assert set(report) >= {"score", "tests"}
    for test in report["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test), test
        assert test["status"] in ("passed", "failed") and 0 <= test["score"] <= test["max_score"], test
        assert test["status"] == "failed" or test["score"] == test["max_score"], test
    assert report["score"] == sum(test["score"] for test in report["tests"])
    return report


@pytest.mark.parametrize("name", [pytest.param(name, marks=[ROOT_ONLY] if attack.needs_root else [])
                                  for name, attack in ATTACKS.items() if not attack.aims_outside])
def test_attack_gets_what_it_deserves(autograder_root, handout, tmp_path, name):
    attack = ATTACKS[name]
    source_before = fingerprint(autograder_root / "source")
    UNPICKLE_MARKER.unlink(missing_ok=True)
    submission = attack_submission(name, tmp_path / "submission", handout, autograder_root / "source")
    run_autograder(autograder_root, submission, AUTOGRADER_CALL_SECONDS="5")
    if os.geteuid() == 0:  # none left to write after the grader finished
        assert tasks_of(pwd.getpwnam(SANDBOX_USER).pw_uid) == 0, f"no process of {SANDBOX_USER} outlives the grading"
    else:
        time.sleep(0.5)  # what a background process would write after the grader finished
    report = check_results_file(autograder_root)

    assert fingerprint(autograder_root / "source") == source_before, "the autograder's files are unchanged"
    assert not UNPICKLE_MARKER.exists(), "the grader never unpickles an answer"
    graded = [test for test in report["tests"] if test["max_score"] > 0]
    if attack.breaks is None:
        assert report["score"] == 0 and all(test["score"] == 0 for test in graded)
        return
    broken = CALLS_Q_SAMPLE if attack.breaks == "q_sample" else {t["name"] for t in graded} - NEED_NO_UTILS
    for test in graded:
        if test["name"] in broken:
            assert test["score"] == 0 and "limit" in test["output"], (test["name"], test["output"])
        else:
            assert test["score"] == test["max_score"], (test["name"], test["output"])


def test_a_linked_graded_file_is_refused_unread(autograder_root, handout, tmp_path):
    name = "a graded file that links to the hidden tests"
    run_autograder(autograder_root, attack_submission(name, tmp_path / "s", handout, autograder_root / "source"))
    report = check_results_file(autograder_root)
    assert report["score"] == 0 and "ddpm.py is a link: upload the file itself" in report["output"]


REFUSED = {"namespaces": "No such file or directory", "user": "Permission denied"}
"""What the read attack is told, by the isolation the grading had: in namespaces the autograder's
folder is not there at all; as the sandbox user it is there and closed."""


@ROOT_ONLY
def test_reading_attack_is_told_why_it_failed(autograder_root, handout, tmp_path):
    """The read attack really tried: every path it opened under the autograder was refused."""
    name = "hidden tests, fixtures and reference read into the output"
    run_autograder(autograder_root, attack_submission(name, tmp_path / "s", handout, autograder_root / "source"))
    report = check_results_file(autograder_root)
    outputs = " ".join(test["output"] for test in report["tests"])
    hidden = str(autograder_root / "source" / "grading" / "test_hidden.py")
    assert f"DENIED {hidden}: {REFUSED[report['extra_data']['isolation']]}" in outputs and "READ " not in outputs


@ROOT_ONLY
@pytest.mark.parametrize("namespaces", ["1", "0"])
def test_the_reference_beside_the_grader_is_out_of_reach(handout, tmp_path, monkeypatch, namespaces):
    """make grade from this copy, where the reference solution lies beside the graded tests: the read
    attack is refused it too, with namespaces or without, and the copy's folder gets its
    permissions back."""
    monkeypatch.setenv("AUTOGRADER_NAMESPACES", namespaces)
    mode = ROOT.stat().st_mode
    name = "hidden tests, fixtures and reference read into the output"
    report = grade(attack_submission(name, tmp_path / "s", handout), tmp_path / "results.json", quiet=True)
    outputs = " ".join(test["output"] for test in report["tests"])
    isolation = report["extra_data"]["isolation"]
    assert isolation == ("namespaces" if namespaces == "1" and isolation_here()[0] == "namespaces" else "user")
    assert f"DENIED {ROOT / 'utils.py'}: {REFUSED[isolation]}" in outputs and "READ " not in outputs
    assert report["score"] == 0 and ROOT.stat().st_mode == mode

