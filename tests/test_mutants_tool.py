"""tools/mutants.py: the table counts mutmut's verdicts as documented, leaving equivalent mutants out."""
import fnmatch
import json
import tomllib

import pytest
from scipy.stats import binomtest

from tools import mutants
from tools.mutants import DEFAULT_MODULES, ROOT


def test_report_counts_kills_timeouts_equivalents_and_survivors(tmp_path, monkeypatch):
    (tmp_path / "mutants").mkdir()
    codes = {"m.x_f__mutmut_1": 1, "m.x_f__mutmut_2": 1, "m.x_f__mutmut_3": -24, "m.x_f__mutmut_4": 0,
             "m.x_f__mutmut_5": 0, "m.x_f__mutmut_6": 33, "m.x_f__mutmut_7": None}
    (tmp_path / "mutants" / "m.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    monkeypatch.setattr(mutants, "ROOT", tmp_path)
    monkeypatch.setitem(mutants.EQUIVALENT, "m.x_f__mutmut_5", "a reason")
    table = mutants.report(("m",))
    row = table.splitlines()[1].split()
    # module, mutants, checked, killed, timeout, equivalent, survived, no tests, score = 3 / (3 + 1 + 1)
    # and, one mutant unchecked, Wilson's 95% interval of 3 killed of 5 judged: 0.231 to 0.882 (tabulated)
    assert row == ["m", "7", "6", "3", "1", "1", "1", "1", "60.0%", "23.1%", "-", "88.2%"]
    assert "  m.x_f__mutmut_4" in table and "  m.x_f__mutmut_6" in table and "mutmut_5" not in table


def test_recheck_judges_survivors_stopped_and_named_unchecked_mutants_by_the_tests_of_their_function(tmp_path, monkeypatch):
    """Each chosen mutant runs with MUTANT_UNDER_TEST set: first its function's covering tests by node
    id, quickest first (ignored files left out); only if they pass or cannot be found, the whole files
    that hold them. Exit 1 is killed, a conftest that fails to import under the mutant is killed, a plain
    usage error stays 4, a run past the limit is 36. Killed, equivalent and unnamed unchecked mutants
    are not run. The tests judged with are the project's as they are now."""
    (tmp_path / "mutants" / "tests").mkdir(parents=True)
    (tmp_path / "mutants" / "tests" / "fast.py").write_text("# the copy of an earlier run\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "fast.py").write_text("# the tests as they are now\n")
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\npytest_add_cli_args = ["-x", "--ignore=tests/skip.py"]\n')
    codes = {"m.x_f__mutmut_1": 0, "m.x_f__mutmut_2": -24, "m.x_f__mutmut_3": 4, "m.x_f__mutmut_4": 4,
             "m.x_f__mutmut_5": 0, "m.x_f__mutmut_6": 1, "m.x_f__mutmut_7": 0, "m.x_f__mutmut_8": 0,
             "m.x_f__mutmut_9": None, "m.x_f__mutmut_10": None}
    (tmp_path / "mutants" / "m.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    (tmp_path / "mutants" / "mutmut-stats.json").write_text(json.dumps({
        "tests_by_mangled_function_name": {"m.x_f": ["tests/slow.py::b", "tests/skip.py::c", "tests/fast.py::d",
                                                     "tests/fast.py::a"]},
        "duration_by_test": {"tests/slow.py::b": 9.0, "tests/fast.py::a": 1.0, "tests/fast.py::d": 2.0}}))
    monkeypatch.setattr(mutants, "ROOT", tmp_path)
    monkeypatch.setitem(mutants.EQUIVALENT, "m.x_f__mutmut_5", "a reason")
    node_ids, files = ["tests/fast.py::a", "tests/fast.py::d", "tests/slow.py::b"], ["tests/fast.py", "tests/slow.py"]
    outcomes = {  # mutant -> (exit code, output) of the node-id run, then of the whole-file run
        "m.x_f__mutmut_1": [(1, b"")], "m.x_f__mutmut_2": [None],
        "m.x_f__mutmut_3": [(4, b"ImportError while loading conftest 'tests/conftest.py'.")],
        "m.x_f__mutmut_4": [(4, b"ERROR: not found: tests/fast.py::a"), (4, b"ERROR: usage")],
        "m.x_f__mutmut_7": [(0, b""), (0, b"")], "m.x_f__mutmut_8": [(0, b""), (1, b"")], "m.x_f__mutmut_9": [(0, b""), (1, b"")]}
    runs = {}

    def run(command, env, **options):
        name = env["MUTANT_UNDER_TEST"]
        runs.setdefault(name, []).append(command[command.index("no:cacheprovider") + 1:])
        outcome = outcomes[name][len(runs[name]) - 1]
        if outcome is None:
            raise mutants.subprocess.TimeoutExpired(command, 1)
        return mutants.subprocess.CompletedProcess(command, outcome[0], stdout=outcome[1], stderr=b"")
    monkeypatch.setattr(mutants.subprocess, "run", run)
    mutants.recheck(("m",), children=1, unchecked={"m.x_f__mutmut_9"})
    assert (tmp_path / "mutants" / "tests" / "fast.py").read_text() == "# the tests as they are now\n"
    assert runs == {"m.x_f__mutmut_1": [node_ids], "m.x_f__mutmut_2": [node_ids], "m.x_f__mutmut_3": [node_ids],
                    "m.x_f__mutmut_4": [node_ids, files], "m.x_f__mutmut_7": [node_ids, files],
                    "m.x_f__mutmut_8": [node_ids, files], "m.x_f__mutmut_9": [node_ids, files]}
    verdicts = json.loads((tmp_path / "mutants" / "m.py.meta").read_text())["exit_code_by_key"]
    assert verdicts == {"m.x_f__mutmut_1": 1, "m.x_f__mutmut_2": 36, "m.x_f__mutmut_3": 1, "m.x_f__mutmut_4": 4,
                        "m.x_f__mutmut_5": 0, "m.x_f__mutmut_6": 1, "m.x_f__mutmut_7": 0, "m.x_f__mutmut_8": 1,
                        "m.x_f__mutmut_9": 1, "m.x_f__mutmut_10": None}


def test_a_complete_run_has_no_interval(tmp_path, monkeypatch):
    (tmp_path / "mutants").mkdir()
    (tmp_path / "mutants" / "m.py.meta").write_text(json.dumps({"exit_code_by_key": {"m.x_f__mutmut_1": 1}}))
    monkeypatch.setattr(mutants, "ROOT", tmp_path)
    assert mutants.report(("m",)).splitlines()[1].split() == ["m", "1", "1", "1", "0", "0", "0", "0", "100.0%"]


@pytest.mark.parametrize("killed, judged", [(0, 10), (10, 10), (57, 60), (1, 2), (140, 200)])
def test_the_interval_is_wilsons_as_scipy_computes_it(killed, judged):
    expected = binomtest(killed, judged).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = mutants.wilson_interval(killed, judged)
    assert low == pytest.approx(expected.low, abs=1e-4) and high == pytest.approx(expected.high, abs=1e-4)


def test_a_sample_draws_unchecked_mutants_of_each_module_and_the_same_ones_for_a_seed(tmp_path, monkeypatch):
    (tmp_path / "mutants").mkdir()
    for module in ("a", "b"):
        codes = {f"{module}.x_f__mutmut_{k}": (1 if k < 5 else None) for k in range(40)}
        (tmp_path / "mutants" / f"{module}.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    monkeypatch.setattr(mutants, "ROOT", tmp_path)
    drawn = mutants.sample(("a", "b"), 10)
    assert len(drawn) == 20 == len(set(drawn))
    assert sum(name.startswith("a.") for name in drawn) == 10
    assert all(int(name.rsplit("_", 1)[1]) >= 5 for name in drawn)  # the 5 checked ones are never drawn
    assert mutants.sample(("a", "b"), 10) == drawn and mutants.sample(("a", "b"), 10, seed=1) != drawn
    assert len(mutants.sample(("a",), 100)) == 35  # at most every unchecked one


def test_make_mutants_runs_every_module_mutmut_mutates_and_no_command():
    """The default modules are exactly the files [tool.mutmut] mutates (its globs, as mutmut reads
    them): none is generated and never run, and no command (train, sample, evaluate, denoise) is."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    sources = [path.relative_to(ROOT).as_posix() for pattern in ("*.py", "mnist_ext/*.py", "dip_ext/*.py")
               for path in ROOT.glob(pattern)]
    mutated = {path[:-3].replace("/", ".") for path in sources
               if any(fnmatch.fnmatch(path, glob) for glob in settings["only_mutate"])
               and not any(fnmatch.fnmatch(path, glob) for glob in settings["do_not_mutate"])}
    assert mutated == set(DEFAULT_MODULES)
    assert not mutated & {"mnist_ext.train", "mnist_ext.sample", "mnist_ext.evaluate", "dip_ext.denoise", "train"}


def test_the_course_kit_is_mutated_in_a_copy_that_mutates_only_it_and_runs_its_tests(tmp_path, monkeypatch):
    """The docs check and batch grading: a copy of the project with its times, whose [tool.mutmut]
    mutates only them and selects their tests, every other setting and section as the project's; a
    run that mixes them with library modules is refused."""
    monkeypatch.setattr(mutants, "COURSE", tmp_path / "course")
    mutants.prepare_course()
    copied = tomllib.loads((tmp_path / "course" / "pyproject.toml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert copied["tool"]["mutmut"] == project["tool"]["mutmut"] | {
        "only_mutate": ["tools/check_docs.py", "tools/tables.py", "tools/grade.py", "tools/graders.py"], "do_not_mutate": [],
        "also_copy": ["README.md", "docs", "Makefile", "requirements.txt", "requirements-dev.txt"],
        "pytest_add_cli_args": ["-x", "-q", "--deselect=tests/test_grading.py::test_autograder_zip_runs_as_gradescope_runs_it"],
        "pytest_add_cli_args_test_selection": list(mutants.COURSE_TESTS)}
    assert copied["tool"]["pytest"] == project["tool"]["pytest"]
    for name in ("tools/grade.py", "tests/test_grading.py", "grading/conftest.py"):
        assert (tmp_path / "course" / name).read_bytes() == (ROOT / name).read_bytes()
        assert (tmp_path / "course" / name).stat().st_mtime == (ROOT / name).stat().st_mtime, "mutmut reads the times"
    assert mutants.meta_path("tools.grade") == tmp_path / "course" / "mutants" / "tools" / "grade.py.meta"
    assert mutants.meta_path("dip_ext.rules") == ROOT / "mutants" / "dip_ext" / "rules.py.meta"
    with pytest.raises(SystemExit, match="mutate the course kit's modules"):
        mutants.workspace(["tools.grade", "dip_ext.rules"])


def test_an_equivalent_mutant_whose_line_changed_is_counted_again(tmp_path, monkeypatch):
    """mutmut numbers a function's mutants afresh when it changes: an entry of EQUIVALENT whose recorded
    line the mutant no longer adds is stale, counted as its verdict says and named."""
    (tmp_path / "mutants").mkdir()
    codes = {"m.x_f__mutmut_1": 0, "m.x_f__mutmut_2": 0, "m.x_f__mutmut_3": 1}
    (tmp_path / "mutants" / "m.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    monkeypatch.setattr(mutants, "ROOT", tmp_path)
    for name in codes:
        monkeypatch.setitem(mutants.EQUIVALENT, name, "a reason")
        monkeypatch.setitem(mutants.CHANGES, name, "x = clip(y)")
    adds = {"m.x_f__mutmut_1": ["x = clip(y)"], "m.x_f__mutmut_2": ["x = None"], "m.x_f__mutmut_3": ["x = y"]}
    monkeypatch.setattr(mutants, "changed_lines", lambda name, module: adds[name])
    table = mutants.report(("m",))
    # module, mutants, checked, killed, timeout, equivalent, survived, no tests, score = 1 / (1 + 1)
    assert table.splitlines()[1].split() == ["m", "3", "3", "1", "0", "1", "1", "0", "50.0%"]
    assert "stale equivalents, counted again" in table and "m.x_f__mutmut_2, m.x_f__mutmut_3" in table
    assert "  m.x_f__mutmut_2" in table.split("survivors")[1] and "mutmut_1" not in table.split("survivors")[1]


def test_forgetting_the_unkilled_keeps_only_the_kills_and_drops_the_test_stats(tmp_path, monkeypatch):
    (tmp_path / "mutants").mkdir()
    codes = {"m.x_f__mutmut_1": 1, "m.x_f__mutmut_2": 0, "m.x_f__mutmut_3": 33, "m.x_f__mutmut_4": 36,
             "m.x_f__mutmut_5": None}
    (tmp_path / "mutants" / "m.py.meta").write_text(json.dumps({"exit_code_by_key": codes, "other": "kept"}))
    (tmp_path / "mutants" / "mutmut-stats.json").write_text("{}")
    monkeypatch.setattr(mutants, "ROOT", tmp_path)
    assert mutants.forget_unkilled(("m", "never_generated")) == 2
    meta = json.loads((tmp_path / "mutants" / "m.py.meta").read_text())
    assert meta == {"exit_code_by_key": codes | {"m.x_f__mutmut_2": None, "m.x_f__mutmut_3": None}, "other": "kept"}
    assert not (tmp_path / "mutants" / "mutmut-stats.json").exists(), "the next run maps the tests afresh"
