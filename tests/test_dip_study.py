"""The stopping study as a harness (dip_ext.study, dip_ext.rules, dip_ext.plugins, dip_ext.run_study): a
rule is measured on the fits it names and charged for what it read; a rule added later needs no
refit; a rule still a TODO is named, not recorded; the summaries and tables by hand; the command."""
import json

import numpy as np
import pytest

import dip_ext.rules
import dip_ext.study
import records as results
from dip_ext import run_study
from dip_ext.fit import WMV_WINDOW, FitRecord, Stage
from dip_ext.plugins import Method, load_method, waiting_for
from dip_ext.rules import BASELINES, FIXED_COUNT, OUTPUTS, PLAIN, FitResult, StopProblem, fit_label, networks_read
from dip_ext.stopping import WMV_PATIENCE
from dip_ext.study import (RuleError, StudySettings, add_rules, format_table, rule_stops, run_case, summarise,
                           summarise_rows)
from tools import tables

SETTINGS = StudySettings(size=32)
RECORRUPTED = "recorrupted=dip_ext.recorrupted:recorrupted"
TWIN = "twin=dip_ext.recorrupted:twin"


def _stand_in_fits(monkeypatch, iterations: int = 1_200) -> list[dict]:
    """Make the study's fits stand-ins with known signals, and record what each was asked for. Plain
    (2 s, of which the twin 0.5 s): residual first at sigma_hat^2 = 0.01 on index 400 (at sigma_hat
    = 0.1 on index 100), windowed variance lowest at 200, SURE lowest at 300 (averaged) and 310 (raw).
    A recorrupted fit (700 iterations, 7 s): estimate lowest at 500 and 510. PSNR 20 + k/3 (averaged),
    19 + k/3 (raw) on plain DIP, 10 dB more on the recorrupted fit, so a stop scored on the wrong fit
    or output shows."""
    calls = []

    def stand_in_fit(observation, config, stages, *, sigma, clean, seed, progress, speed, sure=False):
        calls.append({"observation": observation, "stages": stages, "sigma": sigma, "seed": seed, "sure": sure})
        record = FitRecord()
        k = np.arange(iterations if stages[0].scale == 0 else 700, dtype=np.float64)
        record.loss = list(k)
        record.residual = list(np.where(k < 100, 1.0, np.where(k < 400, 0.05, 0.005)))
        record.wmv = list(np.where(k < WMV_WINDOW - 1, np.nan, np.abs(k - 200) + 1))
        record.sure, record.sure_raw = list(np.abs(k - 300)), list(np.abs(k - 310))
        record.estimate, record.estimate_raw = list(np.abs(k - 500)), list(np.abs(k - 510))
        record.stage = [0] * len(k)
        offset = 0.0 if stages[0].scale == 0 else 10.0
        record.psnr, record.psnr_raw = list(offset + 20 + k / 3), list(offset + 19 + k / 3)
        record.ssim, record.ssim_raw = list(offset + k / 7), list(offset + k / 9)
        record.seconds = 2.0 if stages[0].scale == 0 else 7.0
        record.twin_seconds = 0.5 if sure else 0.0
        return record

    monkeypatch.setattr(dip_ext.study, "fit", stand_in_fit)
    monkeypatch.setattr(dip_ext.study, "estimated_sigma", lambda noisy: 0.1)
    monkeypatch.setattr(dip_ext.study, "classical_denoisers", lambda noisy: {"flat": np.full_like(noisy, 0.5)})
    return calls


def _baselines() -> list[Method]:
    return [Method(name, f"dip_ext.rules:{rule.__name__}", rule) for name, rule in BASELINES.items()]


def test_each_rule_is_scored_on_the_fit_it_stops_and_charged_for_what_it_read(monkeypatch):
    calls = _stand_in_fits(monkeypatch)
    record, waiting = run_case("astronaut", 25.0, 3, SETTINGS, _baselines() + [load_method(RECORRUPTED), load_method(TWIN)])
    assert waiting == {}
    assert [call["stages"] for call in calls] == [[Stage(0.0, 2000)], [Stage(0.25, 2000, 200)]], \
        "plain DIP once (with the twin), the recorrupted fit once for both outputs and the twin rule"
    assert calls[0]["sure"] and not calls[1]["sure"] and all(call["sigma"] == 0.1 and call["seed"] == 3 for call in calls)
    rules = record["rules"]
    expected = {"discrepancy": (PLAIN, 400, 400, 1, 1.5), "ES-WMV": (PLAIN, 200, 200, 1, 1.5),
                "SURE": (PLAIN, 300, 310, 2, 2.0), "recorrupted": ("a=0.25 x2000 patience 200", 500, 510, 1, 7.0),
                "twin": (PLAIN, 500, 510, 2, 8.5)}
    for rule, (fit, averaged, raw, fits, seconds) in expected.items():
        assert (rules[rule]["averaged"]["fit"], rules[rule]["averaged"]["index"], rules[rule]["raw"]["index"]) == \
            (fit, averaged, raw), rule
        assert (rules[rule]["fits"], rules[rule]["seconds"]) == (fits, seconds), rule
        offset = 0.0 if fit == PLAIN else 10.0  # scored on the curves of the fit it stopped
        assert rules[rule]["averaged"]["psnr"] == pytest.approx(offset + 20 + averaged / 3), rule
        assert rules[rule]["averaged"]["ssim"] == pytest.approx(offset + averaged / 7), rule
        assert rules[rule]["raw"]["psnr"] == pytest.approx(offset + 19 + raw / 3), rule
        assert rules[rule]["raw"]["ssim"] == pytest.approx(offset + raw / 9), rule
    assert rules["recorrupted"]["averaged"]["plateau"] == 2 and rules["discrepancy"]["averaged"]["plateau"] == 2
    assert record["plain"]["signals"]["residual"][400] == 0.005 and record["plain"]["seconds"] == 2.0
    assert (record["key"], record["sigma_estimated"]) == ("astronaut|25|3", pytest.approx(25.5))


def test_a_rule_added_to_a_recorded_case_is_measured_without_fitting_plain_dip_again(monkeypatch, tmp_path):
    calls = _stand_in_fits(monkeypatch)
    record, _ = run_case("astronaut", 25.0, 3, SETTINGS, _baselines())
    record = json.loads(json.dumps(record))  # as the study keeps it
    calls.clear()
    rules = tmp_path / "my_rules.py"
    rules.write_text("import numpy as np\nfrom dip_ext.rules import Stop\n\n"
                     "def lowest_residual(problem):\n"
                     "    return Stop(problem.plain, int(np.argmin(problem.plain.signal('residual'))))\n")
    mine = load_method(f"{rules}:lowest_residual")
    before = json.loads(json.dumps(record))
    updated, waiting = add_rules(record, _baselines() + [mine], SETTINGS)
    assert calls == [] and waiting == {}
    assert updated["rules"]["lowest_residual"]["averaged"]["index"] == 400 and updated["rules"]["lowest_residual"]["fits"] == 1
    assert updated["rules"]["lowest_residual"]["source"] == mine.digest
    assert updated["rules"]["lowest_residual"]["seconds"] == 1.5, "plain DIP's recorded 2 s, less its twin's 0.5 s"
    assert {name: updated["rules"][name] for name in before["rules"]} == before["rules"], \
        "the rules measured already are kept as they were"
    rules.write_text(rules.read_text().replace("argmin", "argmax"))
    changed = load_method(f"{rules}:lowest_residual")
    assert changed.digest != mine.digest
    again, _ = add_rules(updated, _baselines() + [changed], SETTINGS)
    assert again["rules"]["lowest_residual"]["averaged"]["index"] == 0, "a changed rule is measured again"
    assert again["rules"]["lowest_residual"]["source"] == changed.digest and calls == []


def test_a_rule_waiting_for_a_todo_is_named_and_not_recorded(monkeypatch, tmp_path):
    _stand_in_fits(monkeypatch)
    (tmp_path / "unfinished.py").write_text("def my_rule(problem):\n    raise NotImplementedError('stop it somewhere')\n")
    record, waiting = run_case("astronaut", 25.0, 3, SETTINGS, _baselines() + [load_method(f"{tmp_path}/unfinished.py:my_rule")])
    assert waiting == {"my_rule": "unfinished.py, my_rule: stop it somewhere"}
    assert "my_rule" not in record["rules"] and "ES-WMV" in record["rules"]
    record, waiting = add_rules(json.loads(json.dumps(record)), [load_method(f"{tmp_path}/unfinished.py:my_rule")], SETTINGS)
    assert waiting == {"my_rule": "unfinished.py, my_rule: stop it somewhere"} and "my_rule" not in record["rules"], \
        "added to a recorded case, it waits the same way"


@pytest.mark.parametrize("body, message", [
    ("return 5", r"the rule 'bad' returned 5 on astronaut\|25\|3; a rule returns dip_ext.rules.Stop\(fit, iteration\)"),
    ("return Stop(problem.plain, 1200)", r"stopped at index 1200 on astronaut\|25\|3, outside its fit's 1200 iterations"),
    ("return Stop(problem.plain, problem.plain.signal('psnr').argmax())", r"'psnr' scores the fit against the clean image"),
    ("return Stop(problem.plain, problem.plain.signal('mse')[0])", r"a fit has no signal 'mse'; it records estimate, "),
])
def test_a_rule_that_breaks_the_contract_is_refused_naming_it_and_the_case(monkeypatch, tmp_path, body, message):
    _stand_in_fits(monkeypatch)
    (tmp_path / "bad.py").write_text(f"from dip_ext.rules import Stop\n\ndef bad(problem):\n    {body}\n")
    with pytest.raises(RuleError, match=message):
        run_case("astronaut", 25.0, 3, SETTINGS, [load_method(f"bad={tmp_path}/bad.py:bad")])


def test_a_rule_may_stop_at_the_first_iteration_but_not_before_it_nor_change_what_it_reads(monkeypatch, tmp_path):
    _stand_in_fits(monkeypatch)
    (tmp_path / "edge.py").write_text(
        "from dip_ext.rules import Stop\n\n"
        "def first(problem):\n    residual = problem.plain.signal('residual')\n    residual[:] = -1.0\n"
        "    return Stop(problem.plain, 0)\n\n"
        "def before(problem):\n    return Stop(problem.plain, -1)\n")
    record, _ = run_case("astronaut", 25.0, 3, SETTINGS, [load_method(f"{tmp_path}/edge.py:first")] + _baselines())
    assert record["rules"]["first"]["averaged"]["index"] == 0
    assert record["rules"]["discrepancy"]["averaged"]["index"] == 400, "a rule writing into a signal changes no record"
    with pytest.raises(RuleError, match=r"stopped at index -1 on astronaut\|25\|3, outside its fit's 1200 iterations"):
        run_case("astronaut", 25.0, 3, SETTINGS, [load_method(f"{tmp_path}/edge.py:before")])


@pytest.mark.parametrize("score", ["psnr", "ssim", "psnr_raw", "ssim_raw"])
@pytest.mark.parametrize("fit", ["problem.plain", "problem.fit([Stage(0.25, 2000, 200)])"])
def test_no_score_against_the_clean_image_reaches_a_rule_on_either_output(monkeypatch, tmp_path, score, fit):
    _stand_in_fits(monkeypatch)
    (tmp_path / "peek.py").write_text("from dip_ext.fit import Stage\nfrom dip_ext.rules import Stop\n\n"
                                      f"def peek(problem):\n    fitted = {fit}\n"
                                      f"    return Stop(fitted, int(fitted.signal({score!r}).argmax()))\n")
    assert set(dip_ext.rules.SCORES) == {"psnr", "ssim", "psnr_raw", "ssim_raw"}
    with pytest.raises(RuleError, match=f"'{score}' scores the fit against the clean image"):
        run_case("astronaut", 25.0, 3, SETTINGS, [load_method(f"{tmp_path}/peek.py:peek")])


def test_the_twin_stops_plain_dip_at_its_last_iteration_when_the_recorrupted_stop_lies_beyond(monkeypatch):
    _stand_in_fits(monkeypatch, iterations=450)  # the recorrupted fit's estimate is lowest at 500 and 510
    record, _ = run_case("astronaut", 25.0, 3, SETTINGS, [load_method(TWIN)])
    assert [record["rules"]["twin"][output]["index"] for output in OUTPUTS] == [449, 449]
    assert record["rules"]["twin"]["averaged"]["psnr"] == pytest.approx(20 + 449 / 3), "on plain DIP's curve"


def test_a_problems_cost_counts_each_fit_read_and_the_twin_only_when_a_sure_signal_was_read():
    result = FitResult({"loss": np.zeros(5), "sure": np.zeros(5), "residual": np.zeros(5)}, 3.0, 1.0)
    problem = StopProblem(np.zeros((4, 4)), 0.1, "averaged", 5, 0, lambda stages: result)
    problem.plain.signal("residual")
    assert networks_read(problem.read) == (1, False)
    problem.plain.signal("sure")
    problem.fit([Stage(0.5, 5)])
    assert problem.read == {PLAIN: {"residual", "sure"}, "a=0.5 x5": set()}
    assert networks_read(problem.read) == (3, True)
    assert fit_label((Stage(0.0, 9),)) == PLAIN and fit_label((Stage(2.0, 9), Stage(0.5, 9, 3))) == "a=2 x9, a=0.5 x9 patience 3"


@pytest.mark.parametrize("spec, message", [
    ("nothing", "a method is NAME=MODULE:FUNCTION, MODULE:FUNCTION or FILE.py:FUNCTION, got 'nothing'"),
    ("dip_ext.rules:absent", "dip_ext.rules has no function 'absent'"),
    ("missing.py:rule", "no file missing.py"),
    ("no_such_module:rule", "cannot import 'no_such_module'"),
])
def test_a_bad_method_spec_is_refused_with_what_to_write(spec, message):
    with pytest.raises((ValueError, ImportError, FileNotFoundError), match=message):
        load_method(spec)


def test_a_spec_names_its_method():
    assert load_method("dip_ext.rules:es_wmv").name == "es_wmv"
    assert load_method("wmv=dip_ext.rules:es_wmv").function is BASELINES["ES-WMV"]


def test_waiting_for_names_the_innermost_todo():
    def outer():
        inner()

    def inner():
        raise NotImplementedError("fill in the noise")

    with pytest.raises(NotImplementedError) as error:
        outer()
    assert waiting_for(error.value) == "test_dip_study.py, inner: fill in the noise"


# ----- summaries and tables -----------------------------------------------------------------------------------

def _result(index, curve, ssim, fit=PLAIN, fits=1, seconds=2.0):
    return {"fit": fit, "index": index, "psnr": float(curve[index]), "ssim": float(ssim[index]), "plateau": 1}


def _synthetic_case(image, sigma, peak, discrepancy, wmv_minimum, sure, stop, classical):
    """Plain averaged PSNR 30 - |k - peak| over 10 iterations, raw 2 dB lower, SSIM k/100 (averaged)
    and k/100 + 0.5 (raw); the windowed variance lowest at wmv_minimum; the recorrupted fit's curves
    (15 iterations) peak at 29 dB averaged and 27 raw exactly at its stops, SSIM k/100."""
    k, k15 = np.arange(10), np.arange(15)
    plain = {"psnr": 30.0 - abs(k - peak), "ssim": k / 100, "psnr_raw": 28.0 - abs(k - peak), "ssim_raw": k / 100 + 0.5,
             "wmv": np.abs(k - wmv_minimum) + 1.0}
    recorrupted = {output: (top - abs(k15 - stop[output]), k15 / 100) for output, top in (("averaged", 29.0), ("raw", 27.0))}
    suffix = {"averaged": "", "raw": "_raw"}

    def on_plain(index, output, fits=1, seconds=1.5):
        return _result(index, plain["psnr" + suffix[output]], plain["ssim" + suffix[output]])

    rules = {"discrepancy": {output: on_plain(discrepancy, output) for output in OUTPUTS} | {"fits": 1, "seconds": 1.5},
             "ES-WMV": {output: on_plain(wmv_minimum, output) for output in OUTPUTS} | {"fits": 1, "seconds": 1.5},
             "SURE": {output: on_plain(sure[output], output) for output in OUTPUTS} | {"fits": 2, "seconds": 2.0},
             "recorrupted": {output: _result(stop[output], *recorrupted[output], fit="a") for output in OUTPUTS}
             | {"fits": 1, "seconds": 7.0},
             "twin": {output: on_plain(min(stop[output], 9), output) for output in OUTPUTS} | {"fits": 2, "seconds": 8.5}}
    return {"image": image, "sigma": sigma, "seed": 0, "classical": {name: {"psnr": value} for name, value in classical.items()},
            "plain": {"signals": {name: values.tolist() for name, values in plain.items()}, "seconds": 2.0, "twin_seconds": 0.5},
            "rules": rules}


RULES = ["discrepancy", "ES-WMV", "SURE", "recorrupted", "twin"]
STUDY_CASES = [
    _synthetic_case("a", 25.0, 4, 1, 7, {"averaged": 4, "raw": 6}, {"averaged": 12, "raw": 2}, {"bm3d": 31.0, "tv": 25.0}),
    _synthetic_case("b", 25.0, 6, 6, 5, {"averaged": 6, "raw": 6}, {"averaged": 6, "raw": 6}, {"bm3d": 28.0, "tv": 26.0}),
    _synthetic_case("a", 50.0, 3, 3, 3, {"averaged": 3, "raw": 3}, {"averaged": 3, "raw": 3}, {"bm3d": 27.0, "tv": 24.0}),
]


def _row(psnr, ssim, gap, worst, within, fits, seconds):
    return pytest.approx({"psnr": psnr, "ssim": ssim, "gap": gap, "worst gap": worst, "within 1 dB": within,
                          "plateau": 1, "fits": fits, "seconds": seconds})


def test_the_summary_of_synthetic_cases_by_hand():
    """Every number of the sigma-25 rows worked out by hand from the curves above. Averaged: image a
    stops at 6 by b's peak (fixed count), 1 (discrepancy), 7 (ES-WMV), 4 (SURE), the recorrupted
    fit's 12, and plain DIP at min(12, 9) (twin); image b at 4, 6, 5, 6, 6 and 6. The sigma-50 case
    has no other image, so no fixed count, and the "all" row leaves that rule out."""
    rows = summarise(STUDY_CASES, "averaged", RULES)
    assert [(row["sigma"], row["runs"]) for row in rows] == [("25", 2), ("50", 1), ("all", 3)]
    at_25 = rows[0]
    assert at_25["rules"] == {
        FIXED_COUNT: _row(28.0, 0.05, 2.0, 2.0, 0.0, 1, 1.5), "discrepancy": _row(28.5, 0.035, 1.5, 3.0, 0.5, 1, 1.5),
        "ES-WMV": _row(28.0, 0.06, 2.0, 3.0, 0.5, 1, 1.5), "SURE": _row(30.0, 0.05, 0.0, 0.0, 1.0, 2, 2.0),
        "recorrupted": _row(29.0, 0.09, 1.0, 1.0, 1.0, 1, 7.0), "twin": _row(27.5, 0.075, 2.5, 5.0, 0.5, 2, 8.5)}
    assert list(at_25["rules"]) == [FIXED_COUNT] + RULES
    assert at_25["peak"] == 30 and at_25["classical"] == pytest.approx({"bm3d": 29.5, "tv": 25.5})
    # ES-WMV's minimum (7 and 5) stands WMV_PATIENCE iterations in neither 10-iteration run
    assert (at_25["ES-WMV stood"], at_25["images where the peak beats the best classical"]) == ("0 of 2", "1 of 2")
    assert list(rows[1]["rules"]) == list(rows[2]["rules"]) == RULES
    assert rows[2]["rules"]["discrepancy"] == _row(29.0, (0.01 + 0.06 + 0.03) / 3, 1.0, 3.0, 2 / 3, 1, 1.5)
    assert rows[2]["classical"] == pytest.approx({"bm3d": 86 / 3, "tv": 25.0})
    # image a: mean peak 30 over its two cases against its mean best classical (31 + 27) / 2 = 29
    assert rows[2]["images where the peak beats the best classical"] == "2 of 2"

    raw = summarise(STUDY_CASES, "raw", RULES)[0]
    assert raw["rules"] == {
        FIXED_COUNT: _row(26.0, 0.55, 2.0, 2.0, 0.0, 1, 1.5), "discrepancy": _row(26.5, 0.535, 1.5, 3.0, 0.5, 1, 1.5),
        "ES-WMV": _row(26.0, 0.56, 2.0, 3.0, 0.5, 1, 1.5), "SURE": _row(27.0, 0.56, 1.0, 2.0, 0.5, 2, 2.0),
        "recorrupted": _row(27.0, 0.04, 1.0, 1.0, 1.0, 1, 7.0), "twin": _row(27.0, 0.54, 1.0, 2.0, 0.5, 2, 8.5)}
    assert raw["peak"] == 28


def test_the_fixed_count_never_looks_at_the_case_itself():
    a, b = STUDY_CASES[0], STUDY_CASES[1]
    assert rule_stops(a, [b], "averaged", [])[FIXED_COUNT]["psnr"] == pytest.approx(30 - 2.0)  # b's peak, 6
    assert rule_stops(a, [], "averaged", ["twin"]).keys() == {"twin"}


def test_a_case_row_says_whether_es_wmvs_minimum_stood_its_patience():
    """A minimum at index 0 of a run of WMV_PATIENCE + 1 iterations stood; one iteration shorter, it did not."""
    cases = []
    for length in (WMV_PATIENCE + 1, WMV_PATIENCE):
        case = json.loads(json.dumps(STUDY_CASES[0]))
        case["plain"]["signals"]["wmv"] = [1.0] + [2.0] * (length - 1)
        cases.append(case)
    rows = dip_ext.study.case_rows(cases, "averaged", RULES)
    assert [row["wmv stood"] for row in rows] == [True, False]
    assert summarise_rows(rows, RULES)[-1]["ES-WMV stood"] == "1 of 2"


def test_a_rule_missing_from_some_cases_of_a_row_is_left_out_of_that_row():
    partial = [dict(case, rules={name: result for name, result in case["rules"].items() if name != "SURE" or case is
                                 STUDY_CASES[0]}) for case in STUDY_CASES]
    rows = summarise(partial, "averaged", RULES)
    assert "SURE" not in rows[0]["rules"] and "SURE" not in rows[2]["rules"] and "twin" in rows[2]["rules"]


def test_the_table_prints_the_summaries_rows_and_says_what_each_pools():
    table = format_table({output: summarise(STUDY_CASES, output, RULES) for output in OUTPUTS}).splitlines()
    assert table[:3] == ["Scored on the averaged output (means over the runs of each row; 'all' pools all 3 runs):", "",
                         "| sigma | rule | PSNR at stop | gap to peak (mean / worst) | within 1 dB | SSIM at stop | "
                         "plateau of its fit | fits | seconds per image |"]
    assert "| 25 | discrepancy | 28.50 | 1.50 / 3.00 | 50% | 0.035 | 1 | 1 | 1.5 |" in table
    assert "| all | twin | 28.33 | 1.67 / 5.00 | 67% | 0.060 | 1 | 2 | 8.5 |" in table
    assert "| 50 | discrepancy | 30.00 | 0.00 / 0.00 | 100% | 0.030 | 1 | 1 | 1.5 |" in table
    assert table.index("Scored on the raw output (means over the runs of each row; 'all' pools all 3 runs):") < \
        table.index("| 25 | SURE | 27.00 | 1.00 / 2.00 | 50% | 0.560 | 1 | 2 | 2 |")
    assert table[-7:-5] == ["Plain DIP's oracle peak and the classical denoisers (PSNR, means over the runs of each row):", ""]
    assert table[-5].startswith("| sigma | runs | DIP peak (averaged) | DIP peak (raw) | bm3d | tv |")
    assert table[-5].endswith(f"| ES-WMV minimum stood {WMV_PATIENCE} iterations |")
    headers = [index for index, line in enumerate(table) if line.startswith("| sigma |")]
    assert len(headers) == len(OUTPUTS) + 1
    for index in headers:  # Markdown draws a table only under a separator row as wide as its header
        assert table[index + 1] == "|" + "---|" * (table[index].count("|") - 1)
    assert table[-3:] == ["| 25 | 2 | 30.00 | 28.00 | 29.50 | 25.50 | 1 of 2 | 0 of 2 |",
                          "| 50 | 1 | 30.00 | 28.00 | 27.00 | 24.00 | 1 of 1 | 0 of 1 |",
                          "| all | 3 | 30.00 | 28.00 | 28.67 | 25.00 | 2 of 2 | 0 of 3 |"]


# ----- the command ---------------------------------------------------------------------------------------------

def test_shards_then_a_rule_of_ones_own_run_each_case_once_and_merge_into_the_tables(tmp_path, capsys):
    """Two shards of a two-case colour study each run one case into their own record; a run without
    --shard then finds both, fits nothing and writes the tables; a rule added then is measured on
    the recorded fits and printed beside the others."""
    runs = tmp_path / "runs.jsonl"
    argv = ["--images", "astronaut", "coffee", "--sigmas", "50", "--seeds", "0", "--size", "32",
            "--iterations", str(WMV_WINDOW + 10), "--workers", "0", "--runs", str(runs),
            "--depth", "3", "--channels-down", "16", "--channels-up", "16"]
    for part in (1, 2):
        run_study.run_command(run_study.parser(), run_study.main, argv + ["--shard", f"{part}/2"])
    assert "1 of 2 cases are still to run" in capsys.readouterr().out  # after the first shard
    shards = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("runs.shard-*-of-2.jsonl"))]
    assert [case["key"] for case in shards] == ["astronaut|50|0", "coffee|50|0"]
    case = shards[0]
    assert len(case["plain"]["signals"]["psnr_raw"]) == len(case["plain"]["signals"]["psnr"]) == WMV_WINDOW + 10
    assert max(case["plain"]["signals"]["psnr_raw"]) > case["noisy"]["psnr"] and set(case["classical"]) >= {"bm3d", "tv"}
    assert set(case["rules"]) == {"discrepancy", "ES-WMV", "SURE", "recorrupted", "twin"}
    run_study.run_command(run_study.parser(), run_study.main, argv)
    assert "2 of 2 cases already recorded; running 0" in capsys.readouterr().out
    assert not runs.exists() or runs.read_text() == ""
    table = (tmp_path / "table.md").read_text()
    assert table.startswith("Scored on the averaged output") and "Scored on the raw output" in table
    assert "| 50 | SURE |" in table and "| 50 | ES-WMV |" in table and "| 50 | twin |" in table
    (tmp_path / "mine.py").write_text("from dip_ext.rules import Stop\n\ndef last(problem):\n"
                                      "    return Stop(problem.plain, problem.plain.iterations - 1)\n")
    run_study.run_command(run_study.parser(), run_study.main, argv + ["--rule", f"{tmp_path}/mine.py:last"])
    printed = capsys.readouterr().out
    assert "rules to measure on 2 recorded ones" in printed and "| all | last |" in printed
    last = [json.loads(line) for line in runs.read_text().splitlines()]
    assert all(case["rules"]["last"]["averaged"]["index"] == WMV_WINDOW + 9 for case in last)
    written = results.read("dip-study")
    assert [(line["row"]["output"], line["row"]["image"]) for line in written] == [
        (output, image) for _ in range(2) for output in ("averaged", "raw") for image in ("astronaut", "coffee")], \
        "a row per case and output when the study was complete, and again once a rule was added"
    assert len({line["row"]["run"] for line in written}) == 2 and "last" in written[-1]["row"]["stops"]
    assert {(line["row"]["seed"], line["row"]["sigma"]) for line in written} == {(0, 50.0)}
    assert written[-1]["command"] == "python -m dip_ext.run_study " + " ".join(argv + ["--rule", f"{tmp_path}/mine.py:last"])
    run_study.run_command(run_study.parser(), run_study.main, argv + ["--rule", f"{tmp_path}/mine.py:last"])
    assert len(results.read("dip-study")) == 8, "the same rows are not recorded twice"
    printed = capsys.readouterr().out
    averaged = printed[printed.index("| sigma | rule |"):printed.index("Scored on the raw output")].strip().splitlines()
    generated = tables.dip_study(["32", "colour", "averaged"]).splitlines()
    assert generated[:-1] == averaged and generated[-1].startswith("| measured | "), \
        "the guide's table, made from the record, is the table the study printed"
    assert tables.dip_study(["32", "colour", "peaks"]).splitlines()[2:4] == \
        printed[printed.index("| 50 | 2 |"):].splitlines()[:2]
    with pytest.raises(FileNotFoundError, match="no record of the 32x32 grey study"):
        tables.dip_study(["32", "grey", "averaged"])
    with pytest.raises(SystemExit):
        run_study.run_command(run_study.parser(), run_study.main, argv + ["--rule", "twin=dip_ext.rules:sure"])
    assert "two rules are called twin" in capsys.readouterr().err


def test_a_case_draws_its_noise_from_its_seed_on_the_image_as_the_settings_make_it_and_shows_it_to_its_rules():
    first, again, other = (dip_ext.study.Case("astronaut", 25.0, seed, SETTINGS) for seed in (3, 3, 4))
    assert np.array_equal(first.noisy, again.noisy) and not np.array_equal(first.noisy, other.noisy)
    assert first.clean.shape == (32, 32, 3) and first.noisy.std() > 0
    grey = dip_ext.study.Case("astronaut", 25.0, 3, StudySettings(size=32, grey=True))
    assert grey.clean.shape == (32, 32), "a grey study fits the grey image"
    problem = first.problem("raw", {})
    assert problem.observation is first.noisy and (problem.seed, problem.iterations, problem.output) == (3, 2000, "raw")
