"""The DIP variations study's tables (dip_ext/variations.py computes the rows): each question's
rows as mean and std over seeds, and the head-to-head comparison of a combination with DIP alone
and the DDPM alone. Kept apart from the rows' code so that a change here never recomputes a study."""
import math

from dip_ext.starts import summarise

QUESTIONS = {"baselines": "DIP alone and the DDPM alone", "1": "DIP at intermediate stages",
             "2": "DIP in the noise estimate", "3": "DIP duration and architecture for the start",
             "4": "the DDPM as a learned prior for DIP"}
SETTING = ("question", "corruption", "method", "steps")
MEASURES = ("psnr", "ssim", "accuracy", "pixel spread", "feature spread", "seconds per digit")


def summary(rows: list[dict]) -> list[dict]:
    """One row per (question, corruption, method, steps): each measure's mean and std over seeds."""
    return summarise(rows, SETTING, MEASURES)


def title(question: str) -> str:
    """A question's table title: "Baselines: ..." or "Question N: ..."."""
    return f"Baselines: {QUESTIONS[question]}" if question == "baselines" else f"Question {question}: {QUESTIONS[question]}"


def _cell(row: dict, measure: str, digits: int) -> str:
    if math.isnan(row[measure]):
        return "-"
    return f"{row[measure]:.{digits}f} ± {row[measure + ' std']:.{digits}f}"


def format_question(summary_rows: list[dict], question: str) -> str:
    """The markdown table of one question: mean ± std over seeds of each measure, every corruption."""
    lines = [title(question), "", "| corruption | method | steps | PSNR (dB) | SSIM | accuracy | pixel spread | feature spread | s per digit |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in summary_rows:
        if row["question"] == question:
            lines.append(f"| {row['corruption']} | {row['method']} | {row['steps']} | {_cell(row, 'psnr', 2)} | "
                         f"{_cell(row, 'ssim', 3)} | {100 * row['accuracy']:.0f}% | {_cell(row, 'pixel spread', 3)} | "
                         f"{_cell(row, 'feature spread', 2)} | {row['seconds per digit']:.2f} |")
    return "\n".join(lines)


def format_pivot(summary_rows: list[dict], question: str) -> str:
    """One question's mean PSNR ± std over seeds (label accuracy in brackets), a row per method and
    step count, a column per corruption."""
    chosen = [row for row in summary_rows if row["question"] == question]
    corruptions = list(dict.fromkeys(row["corruption"] for row in chosen))
    cells = {(row["method"], row["steps"], row["corruption"]): row for row in chosen}
    lines = [f"{title(question)} (mean PSNR in dB ± std over seeds, label accuracy in brackets)", "",
             "| method | steps | " + " | ".join(corruptions) + " |", "|---|---|" + "---|" * len(corruptions)]
    for method, steps in dict.fromkeys((row["method"], row["steps"]) for row in chosen):
        row_cells = []
        for corruption in corruptions:
            row = cells.get((method, steps, corruption))
            row_cells.append("-" if row is None else f"{_cell(row, 'psnr', 2)} ({100 * row['accuracy']:.0f}%)")
        lines.append(f"| {method} | {steps} | " + " | ".join(row_cells) + " |")
    return "\n".join(lines)


def head_to_head(summary_rows: list[dict], ddpm_steps: int, margin: float = 1.0) -> list[dict]:
    """Per corruption: DIP alone (the best 'DIP k alone' row), the DDPM alone (its best row), and the
    best combination in at most ddpm_steps / 5 reverse steps (a DIP output through the reverse
    process, or question 4's DIP fitted with the DDPM as its prior), each by mean PSNR, all three
    oracle picks; `beats both` when the combination is at least `margin` dB above the better of the two."""
    results = []
    for corruption in dict.fromkeys(row["corruption"] for row in summary_rows):
        chosen = [row for row in summary_rows if row["corruption"] == corruption]
        dip = max((row for row in chosen if row["question"] == "baselines" and row["method"].startswith("DIP")
                   and row["steps"] == 0), key=lambda row: row["psnr"])
        ddpm = max((row for row in chosen if row["method"].startswith("DDPM alone")), key=lambda row: row["psnr"])
        combinations = [row for row in chosen if row["steps"] <= ddpm_steps / 5 and (row["question"] == "4" or (
            row["steps"] > 0 and "DIP" in row["method"]))]
        best = max(combinations, key=lambda row: row["psnr"])
        results.append({"corruption": corruption, "dip": dip, "ddpm": ddpm, "combination": best,
                        "beats both": best["psnr"] >= max(dip["psnr"], ddpm["psnr"]) + margin})
    return results


def format_head_to_head(results: list[dict], ddpm_steps: int) -> str:
    lines = [f"Head to head (mean PSNR over seeds, each an oracle pick; a combination in at most {ddpm_steps // 5} "
             f"reverse steps, 1/5 of the DDPM's {ddpm_steps}):", "",
             "| corruption | DIP alone | DDPM alone | best combination | margin over the better | beats both by 1 dB |",
             "|---|---|---|---|---|---|"]
    for result in results:
        dip, ddpm, best = result["dip"], result["ddpm"], result["combination"]
        lines.append(f"| {result['corruption']} | {dip['psnr']:.2f} ({dip['method']}) | {ddpm['psnr']:.2f} "
                     f"({ddpm['method']}, {ddpm['steps']} steps) | {best['psnr']:.2f} ({best['method']}, "
                     f"{best['steps']} steps) | {best['psnr'] - max(dip['psnr'], ddpm['psnr']):+.2f} | "
                     f"{'yes' if result['beats both'] else 'no'} |")
    return "\n".join(lines)


def report(rows: list[dict], ddpm_steps: int) -> str:
    """What the command prints: each question's PSNR by corruption, question 3's whole table (its
    spreads and times), and the head-to-head comparison."""
    summary_rows = summary(rows)
    parts = [format_pivot(summary_rows, question) for question in QUESTIONS] + [format_question(summary_rows, "3")]
    return "\n\n".join(parts + [format_head_to_head(head_to_head(summary_rows, ddpm_steps), ddpm_steps)])


def every_table(rows: list[dict]) -> str:
    """Each question's whole table (SSIM, accuracy, spreads, seconds per digit), for a file."""
    summary_rows = summary(rows)
    return "\n\n".join(format_question(summary_rows, question) for question in QUESTIONS) + "\n"
