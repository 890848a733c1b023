"""Write the student copy: the problem set's starter code, with every solution region replaced by a
TODO that raises NotImplementedError, and nothing that answers a graded question.

    python -m tools.make_handout [--out handout] [--with figures] [--with mnist]     # or: make handout

The reference solution lives in the normal files. A region to hand out as a TODO is written

    # BEGIN SOLUTION <what the student must do>
    ...reference code...
    # END SOLUTION

(one '#', the spelling otter-grader and nbgrader accept). In the handout the region becomes, at
the BEGIN line's indentation,

    # TODO: <what the student must do>
    raise NotImplementedError("<what the student must do>")

The script fails, writing nothing, on an unpaired or nested marker, and checks that every output
file parses and that no marker and no line of solution code survives.

What ships by default (CORE_FILES): gmm.py untouched, ddpm.py and utils.py with TODOs, train.py and
sample.py with the library they run on, the public graded tests with their expected values, and
the students' README (docs/students.md, with the sections of the options chosen) and Makefile
(tools/handout/Makefile, with Makefile.NAME of each option chosen). Never: the figure code of
problems 2-4 and its "what to observe" text, the hidden tests, tests/, tools/, docs/, CI, the
instructors' README.
Options (OPTIONS), the instructor's choice:
    --with figures   viz/ without the MNIST figures: for a course that grades only the TODOs
    --with mnist     the MNIST extension for the bonus, its U-Net's forward passes as TODOs
                     (without viz/mnist.py, whose settling analysis answers the bonus question)
    --with dip       Deep Image Prior for the second assignment (adds mnist): dip_ext/ with Example 1
                     (restore.py) and Example 2 (progressive.py, recorrupted.py) as TODOs, the harnesses
                     that measure any stopping rule or start beside the published ones, and the public
                     tests of those TODOs (tests/test_dip_todos.py); never the reference's figures
                     (viz/dip.py, viz/dip_start.py), tables or study records
"""
import argparse
import sys
from pathlib import Path

from tools.student_copy import OPTIONS, ROOT, MarkerError, make_handout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "handout")
    parser.add_argument("--with", dest="options", action="append", default=[], choices=sorted(OPTIONS),
                        help="also ship this part (repeatable)")
    args = parser.parse_args()
    try:
        files = make_handout(args.out, options=tuple(args.options))
    except MarkerError as error:
        sys.exit(f"error: {error}")
    print(f"wrote {args.out} ({len(files)} files with TODOs: {', '.join(p.name for p in files)})")


if __name__ == "__main__":
    main()
