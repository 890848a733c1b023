"""The grader's side of the submission's process: the wire format and the limits, checked directly."""
import os
import signal
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "grading"))  # the grader's modules import each other by their plain names
import namespaces  # noqa: E402
import wire  # noqa: E402
from sandbox import ISOLATIONS, LimitExceeded, Limits, Submission  # noqa: E402

def test_wire_round_trip_keeps_values_and_dtypes():
    value = {"x": torch.randn(3, 1, 2, dtype=torch.float64), "labels": torch.tensor([0, 2, 1]),
             "mask": torch.tensor([True, False]), "empty": torch.empty(0, 4), "half": torch.ones(2, dtype=torch.bfloat16),
             "nested": [1, 2.5, "text", None, True, (3, 4)], "view": torch.arange(12.0).reshape(3, 4)[:, 1]}
    back = wire.decode(wire.encode(value))
    for key in ("x", "labels", "mask", "empty", "half", "view"):
        assert back[key].dtype == value[key].dtype and torch.equal(back[key], value[key]), key
    assert back["nested"] == [1, 2.5, "text", None, True, [3, 4]]


@pytest.mark.parametrize("body, problem", [
    (b'{"value": 1}', "no header line"),
    (b"not json\n", "not JSON"),
    (b'{"value": 1, "sizes": [], "extra": 0}\n', "not {value, sizes}"),
    (b'{"value": {"tensor": 0, "dtype": "float64", "shape": [2]}, "sizes": [8]}\n' + bytes(8), "needs 16 bytes"),
    (b'{"value": {"tensor": 0, "dtype": "object", "shape": [1]}, "sizes": [8]}\n' + bytes(8), "malformed tensor"),
    (b'{"value": {"tensor": 3, "dtype": "int64", "shape": [1]}, "sizes": [8]}\n' + bytes(8), "malformed tensor"),
    (b'{"value": 1, "sizes": [4]}\n' + bytes(2), "announces 4 bytes"),
])
def test_wire_refuses_what_is_not_its_format(body, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.decode(body)


def test_wire_never_unpickles():
    import pickle

    class Payload:
        def __reduce__(self):
            return (print, ("unpickled",))

    with pytest.raises(wire.WireError):
        wire.decode(pickle.dumps(Payload()))
    with pytest.raises(wire.WireError, match="cannot be sent"):
        wire.encode({"answer": Payload()})


def test_limits_read_the_graders_environment(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_CALL_SECONDS", "2.5")
    monkeypatch.setenv("AUTOGRADER_PROCESSES", "12")
    limits = Limits.from_environment()
    assert (limits.call_seconds, limits.processes, limits.cpu_seconds) == (2.5, 12, Limits().cpu_seconds)


@pytest.fixture
def graded(tmp_path, autograder_turn) -> dict[str, Path]:
    """The reference's files, with a cosine_beta_schedule that never returns (for a sandbox, which
    takes its turn with the gradings: they share the sandbox user)."""
    files = {name: ROOT / name for name in ("ddpm.py", "gmm.py")}
    files["utils.py"] = tmp_path / "utils.py"
    files["utils.py"].write_text((ROOT / "utils.py").read_text()
                                 + "\n\ndef cosine_beta_schedule(timesteps, s=0.008):\n    while True:\n        pass\n")
    return files


def test_cpu_limit_stops_a_busy_loop_and_says_so(graded):
    submission = Submission(graded, Limits(cpu_seconds=2, call_seconds=60))
    try:
        with pytest.raises(LimitExceeded, match="more than 2 s of CPU time"):
            submission.run("cosine_beta_schedule", timesteps=3)
        betas = submission.run("schedule_field", betas=torch.tensor([0.1, 0.2], dtype=torch.float64), field="alphas")
        assert torch.allclose(betas, torch.tensor([0.9, 0.8], dtype=torch.float64)), "a new worker answers the next probe"
    finally:
        submission.close()


def test_wall_clock_limit_stops_a_probe_and_the_next_one_runs(graded):
    submission = Submission(graded, Limits(call_seconds=3))
    try:
        with pytest.raises(LimitExceeded, match="running cosine_beta_schedule did not finish within 3 s"):
            submission.run("cosine_beta_schedule", timesteps=3)
        assert submission.run("mixture_samples", count=2).shape == (2, 1, 2)
    finally:
        submission.close()


def test_without_root_or_namespaces_the_worker_is_still_a_separate_limited_process(graded):
    """The path a laptop without namespaces takes (macOS): no user switch, the worker's session
    killed at the end, and one line saying what the submission can reach."""
    submission = Submission(graded, Limits(), root=False, namespaces_wanted=False)
    try:
        assert submission.user is None and submission.isolation_kind == "none"
        assert ISOLATIONS["none"] in submission.isolation and "not root" in submission.isolation
        assert submission.run("mixture_samples", count=3).shape == (3, 1, 2)
        worker = submission.worker
        assert worker != os.getpid() and os.getsid(worker) == worker, "the worker leads a session of its own"
    finally:
        submission.close()
    with pytest.raises(ProcessLookupError):
        os.kill(worker, signal.SIGKILL)


@pytest.mark.parametrize("wanted", [True, False])
def test_the_worker_enters_namespaces_where_the_kernel_allows_them(graded, wanted):
    """Namespaces where they are wanted and allowed, else the sandbox user as root, else none; the
    grading works the same in each, and its line says which it has."""
    root = os.geteuid() == 0
    refused = namespaces.unavailable_here(as_root=root)
    submission = Submission(graded, Limits(), namespaces_wanted=wanted)
    try:
        expected = "namespaces" if wanted and refused is None else "user" if root else "none"
        assert submission.isolation_kind == expected and ISOLATIONS[expected] in submission.isolation
        assert (submission.view is None) == (expected != "namespaces")
        assert submission.run("mixture_samples", count=3).shape == (3, 1, 2)
    finally:
        submission.close()


def test_the_view_binds_the_installation_and_the_graded_files_and_nothing_of_the_autograder(graded):
    submission = Submission(graded, Limits(), namespaces_wanted=True)
    try:
        if submission.view is None:
            pytest.skip(f"no namespaces here: {submission.no_namespaces_because}")
        view = submission.view
        assert str(submission.folder) in view.read_only and sys.prefix in view.read_only
        assert set(view.private) == {str(submission.home), "/tmp"}
        bound = [Path(path) for path in view.read_only]
        assert not any(ROOT.is_relative_to(path) or path == ROOT for path in bound), "the autograder is never bound"
    finally:
        submission.close()


def test_outermost_keeps_parents_first_and_drops_what_they_hold():
    assert namespaces.outermost(["/usr/lib", "/usr", "/opt/venv/lib", "/opt/venv", "/usrx", "/etc/"]) == \
        ["/etc", "/opt/venv", "/usr", "/usrx"]
