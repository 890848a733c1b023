"""tools/mutants.py: the table counts mutmut's verdicts as documented, leaving equivalent mutants out."""
import json

from tools import mutants


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
    assert row == ["m", "7", "6", "3", "1", "1", "1", "1", "60.0%"]
    assert "  m.x_f__mutmut_4" in table and "  m.x_f__mutmut_6" in table and "mutmut_5" not in table
