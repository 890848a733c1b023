"""The documentation: a short README that leads to every guide, and nothing in README.md or docs/
that has rotted (tools/check_docs.py), with a demonstration that the check catches each kind of rot."""
import re

from tools.check_docs import (ROOT, doc_files, link_problems, make_problems, measured_problems, problems,
                              python_problems, quoted_commands, slug)


def test_every_link_command_make_target_and_measurement_of_the_docs_holds():
    assert problems(doc_files()) == []


def test_the_readme_is_short_and_leads_to_every_guide():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", readme))
    assert linked == {f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md")}
    assert "make figures" in readme and "make test" in readme


def test_anchors_follow_githubs_rule():
    assert slug("The two-pixel model (`make bench`)") == "the-two-pixel-model-make-bench"
    assert slug("DIP speed, width and CPU use") == "dip-speed-width-and-cpu-use"
    assert slug("Example 1: DIP as the start of the reverse process (MNIST)") == \
        "example-1-dip-as-the-start-of-the-reverse-process-mnist"


BROKEN = """# A guide

## Links

[a file](no_such_file.md), [a heading](#no-such-heading), [a real one](#links), [web](https://example.org)

## Commands

```bash
python train.py --steps 3                  # parses
python train.py --steps three              # not an integer
python train.py --no-such-flag 1
python -m no_such_module
python sample.py --n N --ckpt PATH         # placeholders: checked with --help
make test
make no-such-target
```

Inline too: `python classifier.py --T 50` and `python classifier.py --T fifty`.

## Output

```
worst gap 0.0043
```
"""


def test_the_check_catches_each_kind_of_rot(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text(BROKEN)
    assert link_problems(guide) == ["guide.md: link to no_such_file.md: no file no_such_file.md",
                                    "guide.md: link to #no-such-heading: guide.md has no heading #no-such-heading"]
    assert measured_problems(guide) == ["guide.md: ## Output: shows output but no '**Measured** YYYY-MM-DD with "
                                        "`COMMAND`' line"]
    guide.write_text(BROKEN.replace("```\nworst", "**Measured** 2026-11-28 with `make bench`.\n\n```\nworst"))
    assert measured_problems(guide) == []
    commands = quoted_commands(guide)
    texts = [command.text for command in commands]
    assert texts[:7] == ["python train.py --steps 3", "python train.py --steps three", "python train.py --no-such-flag 1",
                         "python -m no_such_module", "python sample.py --n N --ckpt PATH", "make test", "make no-such-target"]
    assert {"python classifier.py --T 50", "python classifier.py --T fifty", "make bench"} <= set(texts[7:])
    assert make_problems(commands) == ["guide.md: `make no-such-target`: the Makefile has no target no-such-target"]
    found = python_problems(commands)
    assert len(found) == 4, found
    assert "`python train.py --steps three`: exit 2" in found[0] and "invalid int value: 'three'" in found[0]
    assert "`python train.py --no-such-flag 1`: exit 2" in found[1] and "unrecognized arguments" in found[1]
    assert "`python -m no_such_module`: ImportError" in found[2]
    assert "`python classifier.py --T fifty`: exit 2" in found[3]
