"""One process that forks a grader per grading, with pytest, torch and torch._dynamo already imported.

A grading's pytest process spends about 2 s importing before it grades anything: torch (0.9 s),
pytest, and torch._dynamo (0.8 s), which the submission's zygote (grading/worker.py) loads for
torch.optim. tools/autograde.py starts this process on a command's first grading; every grading
is then a fork of it, so the gradings after the first start in a fraction of a second (`make
bench-grading` times both). The server never runs a test itself and never imports a submitted
file: each fork runs pytest on the graded tests and exits.

    python -m tools.graders        # started by tools/autograde.py; serves until its stdin closes

Requests are JSON lines on stdin, {"arguments": pytest's, "environment": {...}, "report": path};
for each the server answers with a line {"pid": n} once the grader is forked, then {"exit": code}
once it has ended. The grader runs in grading/ with the request's environment (the server keeps
the one it started with) and writes its report (stdout and stderr) to `report`.
"""
import argparse
import json
import os
import signal
import sys

import pytest
import torch  # noqa: F401  (imported for the forks)
import torch._dynamo  # noqa: F401  (torch.optim's optimisers load it; the submission's zygote preloads it)

from tools.autograde import ROOT


def grader(arguments: list[str], environment: dict[str, str], report: str) -> int:
    """In the fork: pytest on the graded tests, its output to `report`; returns pytest's exit code.
    SIGINT interrupts it as it does pytest (tools/autograde.py sends it when its caller is interrupted)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(ROOT / "grading")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    written = os.open(report, os.O_WRONLY | os.O_APPEND)
    for standard in (1, 2):
        os.dup2(written, standard)
    return int(pytest.main(arguments))


def serve(requests, answers) -> None:
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = grader(request["arguments"], request["environment"], request["report"])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        answers.write(json.dumps({"exit": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}) + "\n")
        answers.flush()


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the grader; the server ends with its stdin
    serve(sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
