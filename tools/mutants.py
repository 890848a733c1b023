"""Mutation testing of the library with mutmut: plant small bugs one at a time, run the tests that
cover the changed function, and count the bugs no test notices.

    make mutants                                  # the modules below, at most 40 minutes
    make mutants MODULES="utils metrics" MINUTES=10
    python -m tools.mutants --report              # the per-module table of the last runs, and the survivors
    python -m tools.mutants --recheck             # judge survivors and mutants stopped at mutmut's limit again
    python -m tools.mutants --modules dip_ext.rules --record after   # its counts and equivalents into results/
    python -m tools.mutants --modules dip_ext.study --sample 60   # 60 mutants drawn at random: an estimate of the score
    python -m tools.mutants --modules mnist_ext.data --recheck --unchecked   # judged one by one, not through mutmut
    make mutants MODULES="tools.check_docs tools.tables tools.grade tools.graders"   # the course kit's, in mutants-course/
    python -m tools.mutants --modules dip_ext.rules --forget-unkilled     # after adding tests: judge the unkilled again

Configuration: [tool.mutmut] in pyproject.toml (what is copied, what is mutated, the pytest flags).
mutmut keeps each verdict in mutants/, so a run cut short by its time budget continues where it
stopped the next time. A mutant counts as killed when a test fails or times out (a mutant that
makes a loop endless is caught); "no tests" means no test of the selection runs its function.
Equivalent mutants (no behaviour changes) are listed in EQUIVALENT with the reason.

A module whose tests fit DIP or train models takes hours to run whole on two cores. --sample N runs
N of its unchecked mutants drawn at random (seeded); the report then gives the score's 95% interval
(Wilson's), which is what the checked mutants say about all of them when they are such a sample.
"""
import argparse
import contextlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import records

ROOT = Path(__file__).resolve().parents[1]
COURSE_MODULES = ("tools.check_docs", "tools.tables", "tools.grade", "tools.graders")
"""The course kit's modules: the docs check, the generated tables and batch grading. Their tests read the library's sources
as text (the handout, the planted student bugs, the graded reference), which a run that mutates the
library rewrites, so they are mutated apart, in COURSE: a copy of the project whose [tool.mutmut]
mutates only these files and runs COURSE_TESTS."""
COURSE_TESTS = ("tests/test_docs.py", "tests/test_records.py", "tests/test_grading.py")
COURSE_DESELECTED = ("tests/test_grading.py::test_autograder_zip_runs_as_gradescope_runs_it",)
"""Course tests left out: this one runs a copy of the grader outside the mutation folder, where
mutmut's trampolines find no configuration."""
COURSE = ROOT / "mutants-course"
GENERATED_FOLDERS = {".git", ".venv", "mutants", "mutants-course", "checkpoints", "figures", "samples", "handout",
                     "grades"}
"""The project's top-level folders that hold no source: left out of COURSE."""
COURSE_ALSO_COPY = ("README.md", "docs", "Makefile", "requirements.txt", "requirements-dev.txt")
"""What COURSE_TESTS read besides the source folders: the guides and what their commands name."""
DEFAULT_MODULES = ("gmm", "utils", "metrics", "ddpm", "samplers", "training", "checkpoints", "recipe",
                   "noisy_classifier", "speed",
                   "mnist_ext.data", "mnist_ext.model", "mnist_ext.recipe", "mnist_ext.generate", "mnist_ext.scoring",
                   "dip_ext.images", "dip_ext.quality", "dip_ext.network", "dip_ext.fit", "dip_ext.stopping",
                   "dip_ext.progressive", "dip_ext.sure", "dip_ext.classical", "dip_ext.study", "dip_ext.restore",
                   "dip_ext.starts", "dip_ext.plugins", "dip_ext.rules", "dip_ext.recorrupted", "dip_ext.variations",
                   "dip_ext.variations_tables")
"""The library modules mutated by `make mutants`: the problem set's, MNIST's and DIP's (not their commands)."""
FAILED_TEST = {1, 3}
TIMED_OUT = {36, 24, -24, 152, 255}  # stopped at timeout_multiplier x the tests' usual time
KILLED = FAILED_TEST | TIMED_OUT
SURVIVED = {0}
UNUSABLE = 4  # pytest could not start: a bad command line, or a conftest that fails to import

_CPU_PATH = "the array-or-tensor conversion takes another path to the same CPU tensor"
_NAN = 'float("NAN") is the same nan'
_ON_CPU = "device None (or the default) is the CPU, where the tensors already are: differs only on a GPU"
_RATIO = "the betas are ratios abar_t / abar_(t-1): a constant factor on every abar cancels"
_PROMOTED = "torch.cat promotes the float32 one to float64: the same exact 1.0"
_EVERY_GRAD = ("every parameter gets a gradient at every step, so zeroed and absent gradients give Adam the "
               "same update")
_INT_FULL = "torch.full with an integer fill value is int64 without the dtype"
_DDIM_ETA_ONE = ("ancestral sampling on all T steps through DDIM with eta = 1 is the same chain draw for draw "
                 "(test_ddim_with_eta_one_on_all_steps_is_ancestral_ddpm, to 1e-9)")
_EMPTY_NAN = "the statistic of an empty (or one-point, unbiased) mode is nan either way"
_LABELS_TO_INT64 = ("samplers.labels_for turns the labels into int64 itself; whole-number labels give the same "
                    "digits either way (test_float_labels_are_digits_too)")
_FIELD_ORDER = "asdict keeps the dataclass's field order, so the text is as stable unsorted"
_ONE_CYCLE_LR = "OneCycleLR sets every parameter group's learning rate from max_lr when it is built"
_FUSED = "fused only changes how the same Adam update is computed (one kernel): speed, not behaviour"
_MAP_LOCATION = ("map_location matters only for a checkpoint saved from a GPU, which a CPU-only machine cannot write: "
                 "differs only on a GPU")
_WEIGHTS_ONLY_DEFAULT = ("torch >= 2.6 (2.13 is pinned) loads with weights_only=True by default "
                         "(test_untrusted_pickles_are_not_executed)")
_ROWVAR_NONE = "np.cov tests `not rowvar`, so rowvar=None is rowvar=False"
_HALF_EXACTLY = ("< 1/2 and <= 1/2 differ only where a float64 U(0, 1) draw is exactly 1/2, with probability 2^-53 "
                 "per pixel")
_CONVEX = ("the image is in [0, 1] before the resize, and anti-aliased bilinear resizing takes convex combinations of "
           "pixels: the clip changes nothing (checked on every photograph at 64, 100 and 128)")
_BIG_ENDIAN = "int.from_bytes reads big-endian by default on Python >= 3.11, which the project needs (tomllib)"
_UNIT_RANGE = ("without a data range scikit-image's PSNR takes the float dtype's, 1 for a clean image with no negative "
               "value: every clean image is in [0, 1]")
_PROMOTES = "scikit-image's PSNR promotes both images to their common float type: float64, the clean image's"
_CLEAN_TYPE = "scikit-image's SSIM computes both images in the clean image's float type, whatever the estimate's"
_PER_SAMPLE = 'utils.p_losses returns the per-sample loss for every reduction but "mean"'
_JSON_FLOATS = ("a recorded signal is a JSON list of Python floats (FitRecord.arrays().tolist()), which np.asarray "
                "makes float64 unasked")
EQUIVALENT: dict[str, str] = {
    "metrics.x_mean_distance__mutmut_1": ("the default chunk only splits the sum over rows of a (a memory bound): the "
                                          "same mean to float32 rounding"),
    "metrics.x__within_mean__mutmut_5": ("the projections are float64 (_points), so int64 ranks promote to the same "
                                         "float64 products"),
    "metrics.x__points__mutmut_6": _CPU_PATH,
    "metrics.x__points__mutmut_7": _CPU_PATH,
    "metrics.x__points__mutmut_9": _CPU_PATH,
    "metrics.x_energy_distance__mutmut_1": "the chunk size only changes how the pairwise sum is blocked",
    "metrics.x_energy_distance__mutmut_11": "the chunk size only changes how the pairwise sum is blocked",
    "metrics.x_energy_noise_floor__mutmut_1": "the chunk size only changes how the pairwise sum is blocked",
    "metrics.x_energy_noise_floor__mutmut_17": "the chunk size only changes how the pairwise sum is blocked",
    "metrics.x_mode_statistics__mutmut_13": _EMPTY_NAN,
    "metrics.x_mode_statistics__mutmut_20": _NAN,
    "metrics.x_mode_statistics__mutmut_24": _EMPTY_NAN,
    "metrics.x_mode_statistics__mutmut_32": _EMPTY_NAN,
    "metrics.x_mode_statistics__mutmut_36": _NAN,
    "metrics.x_mode_statistics__mutmut_50": "> 3 and >= 3 differ only where a deviation is exactly 3 (probability 0)",
    "metrics.x_mode_statistics__mutmut_52": "any(+1) and any(-1) are the same axis of the (N, 2) deviations",
    "gmm.xǁExactDenoiserǁ__call____mutmut_7": "moving the schedule to device None keeps it where it is: "
                                              "differs only when t is on a GPU",
    "ddpm.xǁUNetǁforward__mutmut_9": "one_hot without a width uses max(index) + 1, which is the number of distinct times",
    "ddpm.xǁUNetǁ__init____mutmut_29": "bias=None is falsy: no bias, as with False",
    "ddpm.xǁUNetǁ__init____mutmut_52": "bias=None is falsy: no bias, as with False",
    "ddpm.xǁUNetǁ__init____mutmut_74": "bias=None is falsy: no bias, as with False",
    "metrics.x_mode_statistics__mutmut_29": "var's default is the unbiased estimate already",
    "gmm.xǁGMMǁ__init____mutmut_1": "the default size of the stored data set; problem_gmm passes its own",
    "gmm.xǁGMMǁ__init____mutmut_40": "> and >= 1e-6 differ only when the weights miss 1 by exactly 1e-6",
    "gmm.xǁGMMǁsample__mutmut_22": "noise drawn in float32 instead of float64: the same distribution, stored as float32 anyway",
    "gmm.xǁGMMǁsample__mutmut_29": "< and <= DATA_RANGE differ only on the square's edge (probability 0)",
    "gmm.xǁGMMǁsample__mutmut_30": "all(+1) and all(-1) are the same axis of (n, 2) points",
    "training.x_cached_checkpoint__mutmut_3": "the progress bar's default: nothing computed changes",
    "training.x_cached_checkpoint__mutmut_12": "progress=None hides the bar: nothing computed changes",
    "checkpoints.x_config_key__mutmut_7": _FIELD_ORDER,
    "checkpoints.x_config_key__mutmut_9": "a key one hex digit longer names the same configs apart just as well",
    "checkpoints.x_config_key__mutmut_3": _FIELD_ORDER,
    "checkpoints.x_config_key__mutmut_5": _FIELD_ORDER,
    "checkpoints.x_read_checkpoint__mutmut_7": _MAP_LOCATION,
    "checkpoints.x_read_checkpoint__mutmut_10": _MAP_LOCATION,
    "checkpoints.x_read_checkpoint__mutmut_8": _WEIGHTS_ONLY_DEFAULT,
    "checkpoints.x_read_checkpoint__mutmut_11": _WEIGHTS_ONLY_DEFAULT,
    "checkpoints.x_weights_into__mutmut_5": _ON_CPU,
    "recipe.x_load_model__mutmut_6": _ON_CPU,
    "recipe.x_training_parts__mutmut_2": _ON_CPU,
    "recipe.x_training_parts__mutmut_43": _ON_CPU,
    "recipe.x_training_parts__mutmut_45": _ON_CPU,
    "recipe.x_training_parts__mutmut_56": _ON_CPU,
    "recipe.x_training_parts__mutmut_62": _ON_CPU,
    "recipe.x_training_parts__mutmut_12": _FUSED,
    "recipe.x_training_parts__mutmut_15": _FUSED,
    "recipe.x_training_parts__mutmut_16": _FUSED,
    "recipe.x_training_parts__mutmut_14": _ONE_CYCLE_LR,
    "noisy_classifier.x_training_parts__mutmut_2": _ON_CPU,
    "noisy_classifier.x_training_parts__mutmut_53": _ON_CPU,
    "noisy_classifier.x_training_parts__mutmut_54": _ON_CPU,
    "noisy_classifier.x_training_parts__mutmut_55": _ON_CPU,
    "noisy_classifier.x_training_parts__mutmut_8": _ONE_CYCLE_LR,
    "mnist_ext.generate.x_generate__mutmut_33": _ON_CPU,
    "dip_ext.images.x_to_tensor__mutmut_9": _ON_CPU,
    "mnist_ext.data.x_model_and_held_out_digits__mutmut_5": "load_idx_dir reads the train split unless told",
    "dip_ext.fit.x__adam_step__mutmut_13": _EVERY_GRAD,
    "mnist_ext.generate.x_generate__mutmut_8": _LABELS_TO_INT64,
    "mnist_ext.generate.x_generate__mutmut_10": _LABELS_TO_INT64,
    "mnist_ext.generate.x_generate__mutmut_63": _ON_CPU,
    "mnist_ext.generate.x_generate__mutmut_75": _ON_CPU,
    "noisy_classifier.xǁNoisyClassifierǁforward__mutmut_19": "dim=+1 and dim=-1 are the same axis of the (B, 2 + E) input",
    "noisy_classifier.xǁNoisyClassifierǁforward__mutmut_2": "the features are already in x_t's dtype: .to(None) keeps them",
    "noisy_classifier.xǁNoisyClassifierǁforward__mutmut_5": ("t + 1 (int64) divided by T is already float32, x_t's dtype "
                                                             "for a float32 model"),
    "recipe.x_load_model__mutmut_4": "device None leaves the model on the CPU, where it was built: differs only on a GPU",
    "training.xǁRecipeǁload__mutmut_15": "device None leaves the model on the CPU, where it was built: differs only on a GPU",
    "gmm.xǁExactClassifierǁ__call____mutmut_12": "moving the schedule to device None keeps it where it is: "
                                                 "differs only when t is on a GPU",
    "utils.x_cosine_beta_schedule__mutmut_23": _RATIO,
    "utils.x_cosine_beta_schedule__mutmut_24": _RATIO,
    "utils.x_extract__mutmut_5": _ON_CPU,
    "utils.xǁScheduleǁfrom_betas__mutmut_27": _PROMOTED,
    "utils.xǁScheduleǁfrom_betas__mutmut_29": _PROMOTED,
    "ddpm.xǁGaussianFourierProjectionǁforward__mutmut_12": "dim=+1 and dim=-1 are the same axis of the (B, E/2) angles",
    "utils.x_drop_labels__mutmut_4": _ON_CPU,
    "utils.x_drop_labels__mutmut_8": "< p and <= p differ only when a uniform draw equals p exactly (about 6e-8 a label)",
    "utils.x_p_losses__mutmut_12": _ON_CPU,
    "utils.x_p_losses__mutmut_16": _ON_CPU,
    "utils.x_q_sample__mutmut_5": _ON_CPU,
    "utils.x_q_sample__mutmut_9": _ON_CPU,
    "ddpm.xǁNoisePredictorǁforward__mutmut_11": "t + 1 (int64) divided by T is already float32, x_t's dtype for a float32 model",
    "ddpm.xǁNoisePredictorǁforward__mutmut_21": "the schedule buffer is float32, x_t's dtype for a float32 model",
    "training.xǁInterruptAtStepEndǁ__enter____mutmut_1": "None is falsy, as False is: no stop is requested",
    "training.x_train__mutmut_26": _ON_CPU,
    "training.x_train__mutmut_125": "an empty stop reason is falsy, as None is",
    "training.x_train__mutmut_128": _EVERY_GRAD,
    "training.x_train__mutmut_129": _EVERY_GRAD,
    "samplers.x__predict__mutmut_4": _ON_CPU,
    "samplers.x__predict__mutmut_8": _ON_CPU,
    "samplers.x__predict__mutmut_5": _INT_FULL,
    "samplers.x__predict__mutmut_9": _INT_FULL,
    "samplers.x_sample__mutmut_13": _ON_CPU,
    "samplers.x_sample__mutmut_30": _ON_CPU,
    "samplers.x_sample__mutmut_33": _ON_CPU,
    "samplers.x_reverse_process__mutmut_47": _DDIM_ETA_ONE,
    "samplers.x_reverse_process__mutmut_48": _DDIM_ETA_ONE,
    "samplers.xǁClassifierGuidanceǁ__call____mutmut_14": "the early return only saves work: with w = 0 or no labelled "
                                                          "sample the guidance term is 0 x grad or the grad of 0",
    "samplers.xǁClassifierGuidanceǁ__call____mutmut_30": "dim=+1 and dim=-1 are the same axis of the (B, C) logits",
    "samplers.xǁClassifierGuidanceǁ__call____mutmut_61": "the gradient has x_t's dtype, which is eps's for every denoiser here",
    "mnist_ext.scoring.x_frechet_distance__mutmut_8": _ROWVAR_NONE,
    "mnist_ext.scoring.x_frechet_distance__mutmut_13": _ROWVAR_NONE,
    "dip_ext.images.x_make_mask__mutmut_13": _HALF_EXACTLY,
    "dip_ext.images.x__read_file__mutmut_9": "no Pillow mode begins with X, so 'XXIFXX' holds the same first letters as 'IF'",
    "dip_ext.network.xǁSkipHourglassǁforward__mutmut_8": "shape[+2] is shape[-2], the height, of the (1, C, H, W) input",
    "dip_ext.images.x_load_image__mutmut_68": _CONVEX,
    "dip_ext.images.x_load_image__mutmut_69": _CONVEX,
    "dip_ext.fit.x_fit__mutmut_49": _ON_CPU,
    "dip_ext.fit.x_fit__mutmut_78": _ON_CPU,
    "dip_ext.fit.x_fit__mutmut_117": _ON_CPU,
    "dip_ext.fit.x_fit__mutmut_161": _ON_CPU,
    "dip_ext.fit.x_fit__mutmut_120": ("the probe comes from its own random stream and only SURE reads it: drawing it "
                                      "without sure=True changes nothing computed"),
    "dip_ext.fit.x_fit__mutmut_135": "the progress bar without its total: nothing computed changes",
    "dip_ext.fit.x_fit__mutmut_138": "the finished progress bar left on screen: nothing computed changes",
    "mnist_ext.data.x_read_idx__mutmut_25": _BIG_ENDIAN,
    "mnist_ext.data.x_read_idx__mutmut_36": _BIG_ENDIAN,
    "mnist_ext.data.x_read_idx__mutmut_63": _BIG_ENDIAN,
    "mnist_ext.recipe.x_recipe__mutmut_4": _ON_CPU,
    "mnist_ext.recipe.x_recipe__mutmut_7": _ON_CPU,
    "mnist_ext.recipe.x_recipe__mutmut_13": _ON_CPU,
    "mnist_ext.recipe.x_recipe__mutmut_73": _ON_CPU,
    "mnist_ext.recipe.x_recipe__mutmut_74": _ON_CPU,
    "mnist_ext.recipe.x_recipe__mutmut_75": _ON_CPU,
    "mnist_ext.recipe.x_recipe__mutmut_91": _ON_CPU,
    "mnist_ext.recipe.x_recipe__mutmut_83": _PER_SAMPLE,
    "mnist_ext.recipe.x_recipe__mutmut_92": _PER_SAMPLE,
    "mnist_ext.recipe.x_recipe__mutmut_93": _PER_SAMPLE,
    "mnist_ext.scoring.x_load_or_train_classifier__mutmut_47": "progress=None hides the bar: nothing computed changes",
    "mnist_ext.scoring.x__augment__mutmut_73": "grid_sample's align_corners is False by default",
    "dip_ext.quality.x_psnr__mutmut_4": _UNIT_RANGE,
    "dip_ext.quality.x_psnr__mutmut_7": _UNIT_RANGE,
    "dip_ext.quality.x_psnr__mutmut_9": _PROMOTES,
    "dip_ext.quality.x_psnr__mutmut_11": _PROMOTES,
    "dip_ext.quality.x_ssim__mutmut_11": _CLEAN_TYPE,
    "dip_ext.quality.x_ssim__mutmut_13": _CLEAN_TYPE,
    "dip_ext.restore.x_noised_start__mutmut_10": _INT_FULL,
    "dip_ext.restore.x_noised_start__mutmut_13": _INT_FULL,
    "dip_ext.study.x__restored__mutmut_8": _JSON_FLOATS,
    "dip_ext.study.x__restored__mutmut_10": _JSON_FLOATS,
    "dip_ext.study.x_case_rows__mutmut_26": _JSON_FLOATS,
    "dip_ext.study.x_case_rows__mutmut_28": _JSON_FLOATS,
    "dip_ext.study.xǁCaseǁrun_fit__mutmut_11": "progress=None is as false as progress=False: no bar either way",
    "dip_ext.study.x_peaks_table__mutmut_4": ("every summary row names the same classical denoisers, and a summary has at "
                                              "least two rows (a sigma and 'all')"),
    "tools.check_docs.x_slug__mutmut_8": ("the next substitution drops every character but word characters, hyphens and "
                                          "spaces, backticks and asterisks among them"),
    "tools.check_docs.x_anchors__mutmut_6": ("a code block replaced by XXXX instead of nothing leaves a line XXXX, which is "
                                             "no heading"),
    "tools.check_docs.x_anchors__mutmut_10": ("a heading's hashes are followed by a space, which ends lstrip's run of X "
                                              "and # as it ends the run of #"),
    "tools.check_docs.x_handout_readme_problems__mutmut_4": ("there is no set of more options than OPTIONS holds: the "
                                                             "extra count gives no combination"),
}
"""mutant name -> why its behaviour is the same as the original's (checked by reading it with `mutmut show`)."""


CHANGES: dict[str, str] = {
    "dip_ext.study.x__restored__mutmut_8": ('return FitResult({name: np.asarray(values, dtype=None) for name, values in '
                                            'stored["signals"].items()},'),
    "dip_ext.study.x__restored__mutmut_10": ('return FitResult({name: np.asarray(values, ) for name, values in '
                                             'stored["signals"].items()},'),
    "dip_ext.study.x_case_rows__mutmut_26": 'wmv = np.asarray(signals["wmv"], dtype=None)',
    "dip_ext.study.x_case_rows__mutmut_28": 'wmv = np.asarray(signals["wmv"], )',
    "dip_ext.study.x_peaks_table__mutmut_4": 'names = list(first[1]["classical"])',
    "dip_ext.study.xǁCaseǁrun_fit__mutmut_11": "progress=None, speed=self.settings.speed, sure=label == PLAIN)",
    "dip_ext.restore.x_noised_start__mutmut_10": ("t = torch.full((len(estimate),), t0 - 1, dtype=None)  "
                                                  "# level t0 is schedule index t0 - 1"),
    "dip_ext.restore.x_noised_start__mutmut_13": "t = torch.full((len(estimate),), t0 - 1, )  # level t0 is schedule index t0 - 1",
    "tools.check_docs.x_slug__mutmut_8": 'text = re.sub(r"XX[`*]XX", "", heading.strip().lower())',
    "tools.check_docs.x_anchors__mutmut_6": 'text = FENCE.sub("XXXX", path.read_text())',
    "tools.check_docs.x_anchors__mutmut_10": ('return {slug(line.lstrip("XX#XX")) for line in text.splitlines() '
                                              'if re.match(r"#{1,6} ", line)}'),
    "tools.check_docs.x_handout_readme_problems__mutmut_4": "for count in range(len(OPTIONS) + 2):",
}
"""The mutated line of equivalent mutants, as mutmut shows it (the line after `+`), for those whose
judgement is checked: mutmut numbers a function's mutants afresh when the function changes, so an
entry of EQUIVALENT can come to name another mutant. One whose line no longer reads so is stale:
`report` counts it again and names it."""


def workspace(modules: Collection[str]) -> Path:
    """Where mutmut runs for `modules`: the project, or COURSE for the course kit's. Refuses a mix."""
    course = {module in COURSE_MODULES for module in modules}
    if len(course) > 1:
        raise SystemExit(f"error: mutate the course kit's modules ({', '.join(COURSE_MODULES)}) apart from the "
                         "library's: their tests need the library's sources as written")
    return COURSE if course == {True} else ROOT


def meta_path(module: str) -> Path:
    """mutants/<module>.py.meta, where mutmut keeps a module's verdicts."""
    return workspace([module]) / "mutants" / (module.replace(".", "/") + ".py.meta")


def prepare_course() -> None:
    """Refresh COURSE: the project's files with their times (generated folders left out), and a
    pyproject.toml whose [tool.mutmut] mutates only COURSE_MODULES and runs COURSE_TESTS. mutmut's
    verdicts (COURSE/mutants) are kept, so a run continues where the last stopped."""
    def generated(folder: str, names: list[str]) -> set[str]:
        top = GENERATED_FOLDERS if Path(folder) == ROOT else set()
        return {name for name in names if name in top or name in ("__pycache__", ".pytest_cache")}

    shutil.copytree(ROOT, COURSE, ignore=generated, dirs_exist_ok=True)
    pyproject = (ROOT / "pyproject.toml").read_text()
    settings = tomllib.loads(pyproject)["tool"]["mutmut"] | {
        "only_mutate": [module.replace(".", "/") + ".py" for module in COURSE_MODULES], "do_not_mutate": [],
        "also_copy": list(COURSE_ALSO_COPY),
        "pytest_add_cli_args": ["-x", "-q"] + [f"--deselect={test}" for test in COURSE_DESELECTED],
        "pytest_add_cli_args_test_selection": list(COURSE_TESTS)}
    section = "[tool.mutmut]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
    start = pyproject.index("[tool.mutmut]")
    following = pyproject.find("\n[", start)
    (COURSE / "pyproject.toml").write_text(pyproject[:start] + section + ("" if following < 0 else pyproject[following:]))


def changed_lines(name: str, module: str) -> list[str]:
    """The lines mutant `name` of `module` adds, as mutmut shows them (needs mutants/ and mutmut)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant  # requirements-dev.txt, as make mutants installs it

    with contextlib.chdir(workspace([module])):
        diff = get_diff_for_mutant(name, path=module.replace(".", "/") + ".py")
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def stale(name: str, module: str) -> bool:
    """Whether equivalent mutant `name` no longer makes the change CHANGES records for it."""
    return name in CHANGES and CHANGES[name] not in changed_lines(name, module)


def verdicts(module: str) -> dict[str, int | None]:
    """{mutant name: mutmut's exit code} for one module (dotted name), from its meta_path."""
    meta = meta_path(module)
    if not meta.is_file():
        return {}
    return json.loads(meta.read_text())["exit_code_by_key"]


def wilson_interval(killed: int, judged: int, z: float = 1.96) -> tuple[float, float]:
    """95% interval of a proportion from killed of judged draws (Wilson 1927):
    (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), p = killed / n."""
    p, n = killed / judged, judged
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def forget_unkilled(modules: tuple[str, ...]) -> int:
    """Forget the verdicts of every survivor and every mutant no test ran, and mutmut's record of
    which tests cover what, so that the next run judges them with the tests as they are now (mutmut
    keeps a verdict until the mutant's function changes, whatever the tests do). Returns how many."""
    forgotten = 0
    for module in modules:
        if not meta_path(module).is_file():  # mutmut has not generated its mutants yet: nothing to forget
            continue
        meta = json.loads(meta_path(module).read_text())
        for name, code in meta["exit_code_by_key"].items():
            if code in SURVIVED | {5, 33}:
                meta["exit_code_by_key"][name] = None
                forgotten += 1
        meta_path(module).write_text(json.dumps(meta))
    (workspace(modules) / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    return forgotten


def sample(modules: tuple[str, ...], count: int, seed: int = 0) -> list[str]:
    """`count` unchecked mutants of each module, drawn at random (seeded), for mutmut run."""
    chosen = []
    for module in modules:
        unchecked = sorted(name for name, code in verdicts(module).items() if code is None)
        chosen += random.Random(f"{module}:{seed}").sample(unchecked, min(count, len(unchecked)))
    return chosen


def counts(module: str) -> dict:
    """One module's verdicts counted: mutants, checked, killed (failing tests and timeouts), timeout
    (of the killed), equivalent, survived and no tests, with the names of the survivors, of the mutants
    no test runs and of the stale equivalents (counted by their verdict)."""
    codes = verdicts(module)
    checked = {name: code for name, code in codes.items() if code is not None}
    stale_names = [name for name in checked if name in EQUIVALENT and stale(name, module)]
    equivalent = [name for name in checked if name in EQUIVALENT and name not in stale_names]  # whatever its verdict
    judged = {name: code for name, code in checked.items() if name not in equivalent}
    return {"module": module, "mutants": len(codes), "checked": len(checked),
            "killed": sum(code in KILLED for code in judged.values()),
            "timeout": sum(code in TIMED_OUT for code in judged.values()), "equivalent": len(equivalent),
            "survived": sorted(name for name, code in judged.items() if code in SURVIVED),
            "no tests": sorted(name for name, code in judged.items() if code in (5, 33)), "stale": stale_names,
            "other": dict(Counter(code for code in checked.values() if code not in KILLED | SURVIVED | {5, 33}))}


def score(row: dict) -> tuple[float | None, int]:
    """(killed / judged, judged) of counts(); judged = killed + survived + no tests. None if nothing was judged."""
    judged = row["killed"] + len(row["survived"]) + len(row["no tests"])
    return (row["killed"] / judged if judged else None), judged


def report(modules: tuple[str, ...]) -> str:
    lines = [f"{'module':<22}{'mutants':>8}{'checked':>8}{'killed':>8}{'timeout':>8}{'equivalent':>11}{'survived':>9}"
             f"{'no tests':>9}{'score':>8}  95% interval if the checked are a random sample"]
    survivors = []
    for module in modules:
        row = counts(module)
        fraction, judged = score(row)
        interval = ""
        if judged and row["checked"] < row["mutants"]:
            low, high = wilson_interval(row["killed"], judged)
            interval = f"  {low:.1%} - {high:.1%}"
        lines.append(f"{module:<22}{row['mutants']:>8}{row['checked']:>8}{row['killed']:>8}{row['timeout']:>8}"
                     f"{row['equivalent']:>11}{len(row['survived']):>9}{len(row['no tests']):>9}"
                     f"{'-' if fraction is None else f'{fraction:.1%}':>8}{interval}")
        survivors += row["survived"] + row["no tests"]
        if row["other"]:
            lines.append(f"{'':<22}other verdicts (exit code: count): {row['other']}")
        if row["stale"]:
            lines.append(f"{'':<22}stale equivalents, counted again (their line changed; update CHANGES and "
                         f"EQUIVALENT): {', '.join(row['stale'])}")
    lines.append("killed counts failing tests and timeouts (timeout: of the killed, those stopped at the time limit);\n"
                 "score = killed / (killed + survived + no tests), equivalent mutants left out")
    if survivors:
        lines += ["", "survivors (see one with: .venv/bin/mutmut show NAME):"] + [f"  {name}" for name in sorted(survivors)]
    return "\n".join(lines)


def equivalents(module: str) -> dict[str, str]:
    """{mutant of `module` (without the module's name): why it changes nothing} of EQUIVALENT, in mutmut's order."""
    names = sorted((name for name in EQUIVALENT if name.startswith(module + ".x")), key=lambda name: (len(name), name))
    return {name[len(module) + 1:]: EQUIVALENT[name] for name in names}


def recheck(modules: tuple[str, ...], children: int, minutes_each: float = 5.0, unchecked: Collection[str] = ()) -> None:
    """Judge again, one mutant at a time per child, every survivor (not listed as equivalent) and
    every mutant mutmut stopped at its limit, and judge the `unchecked` mutants named (instead of
    through mutmut: its CPU-time limit stops mutants whose tests share module-scoped fixtures that
    train, whatever their verdict would be). The mutant is switched on (MUTANT_UNDER_TEST, as mutmut
    does) without mutmut's CPU-time limit: first the tests covering its function (mutmut's stats),
    quickest first; if they all pass (or pytest cannot find one), the whole files that hold them,
    because the stats credit the calls a module-scoped fixture makes to the first test that uses it.
    The verdict goes into
    mutants/<module>.py.meta (1 killed, 0 survived, 36 stopped after `minutes_each`: an endless loop).
    A mutant that makes tests/conftest.py fail to import (it builds the shared configs) errors every
    test: killed. Other verdicts are kept as pytest's exit code and judged again on the next recheck.
    The tests are the project's as they are now: copied into mutants/ first (mutmut copies them only
    when it runs)."""
    root = workspace(modules)
    if root == COURSE:
        prepare_course()
    shutil.copytree(root / "tests", root / "mutants" / "tests", dirs_exist_ok=True)
    stats = json.loads((root / "mutants" / "mutmut-stats.json").read_text())
    tests_by_function, seconds = stats["tests_by_mangled_function_name"], stats["duration_by_test"]
    pytest_arguments = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]["pytest_add_cli_args"]
    ignored = tuple(argument.split("=", 1)[1] for argument in pytest_arguments if argument.startswith("--ignore="))
    chosen = [(module, name) for module in modules for name, code in verdicts(module).items()
              if (code in SURVIVED and name not in EQUIVALENT) or code in TIMED_OUT or code == UNUSABLE
              or (code is None and name in unchecked)]

    def pytest_verdict(name: str, tests: list[str]) -> int:
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        environment = dict(os.environ, MUTANT_UNDER_TEST=name, OMP_NUM_THREADS="1")
        try:
            finished = subprocess.run(command, cwd=root / "mutants", env=environment, capture_output=True,
                                      timeout=60 * minutes_each)
        except subprocess.TimeoutExpired:
            return 36
        conftest_broken = finished.returncode == UNUSABLE and b"while loading conftest" in finished.stdout + finished.stderr
        return 1 if finished.returncode == 1 or conftest_broken else finished.returncode

    def judge(module_and_name: tuple[str, str]) -> tuple[str, str, int]:
        module, name = module_and_name
        covering = [test for test in tests_by_function.get(name.rsplit("__mutmut_", 1)[0], []) if not test.startswith(ignored)]
        if not covering:
            return module, name, 33
        covering.sort(key=lambda test: seconds.get(test, 0.0))
        code = pytest_verdict(name, covering)
        if code in SURVIVED or code == UNUSABLE:
            files = Counter()
            for test in covering:
                files[test.split("::")[0]] += seconds.get(test, 0.0)
            code = pytest_verdict(name, sorted(files, key=files.get))  # the file whose covering tests are quickest first
        return module, name, code

    with ThreadPoolExecutor(children) as pool:
        for module, name, code in pool.map(judge, chosen):
            meta = json.loads(meta_path(module).read_text())
            meta["exit_code_by_key"][name] = code
            meta_path(module).write_text(json.dumps(meta))
            print(f"{name}: {'killed' if code in FAILED_TEST else 'survived' if code in SURVIVED else code}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES), help="dotted module names")
    parser.add_argument("--minutes", type=float, default=40.0, help="time budget of the run")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--sample", type=int, default=None,
                        help="run only this many unchecked mutants of each module, drawn at random")
    parser.add_argument("--seed", type=int, default=0, help="the draw of --sample")
    parser.add_argument("--report", action="store_true", help="only print the table of the runs so far")
    parser.add_argument("--forget-unkilled", action="store_true",
                        help="forget the survivors' and untested mutants' verdicts (and the test stats), so that the "
                             "next run judges them with the tests as they are now")
    parser.add_argument("--record", metavar="TESTS", default=None,
                        help="append each module's counts to results/mutation.jsonl, labelled with which tests judged "
                             "them (e.g. before, after), for the tables of docs/development.md (tools/tables.py)")
    parser.add_argument("--recheck", action="store_true",
                        help="judge the survivors and the mutants stopped at mutmut's limit again, one by one (recheck)")
    parser.add_argument("--unchecked", action="store_true",
                        help="with --recheck: judge the unchecked mutants (or --sample of them) that way too, not through mutmut")
    args = parser.parse_args()
    modules = tuple(args.modules)
    if args.forget_unkilled:
        print(f"forgot {forget_unkilled(modules)} verdicts; run again to judge them with the tests as they are now")
        return
    if args.record is not None:
        rows = [{"tests": args.record} | {key: len(value) if isinstance(value, list) else value
                                          for key, value in counts(module).items() if key not in ("stale", "other")}
                | {"survivors": counts(module)["survived"], "equivalents": equivalents(module)} for module in modules]
        records.append("mutation", rows, "python -m tools.mutants " + " ".join(sys.argv[1:]))
        print(report(modules))
        return
    if args.recheck:
        unchecked = ()
        if args.unchecked:
            unchecked = sample(modules, args.sample, args.seed) if args.sample is not None else [
                name for module in modules for name, code in verdicts(module).items() if code is None]
        recheck(modules, args.children, unchecked=unchecked)
    elif not args.report:
        mutmut = Path(sys.executable).parent / "mutmut"
        if args.sample is not None and not all(verdicts(module) for module in modules):
            parser.error("--sample draws from the mutants mutmut has generated: run once without it (it can be "
                         "stopped as soon as it tests mutants)")
        names = sample(modules, args.sample, args.seed) if args.sample is not None else [f"{m}.x*" for m in modules]
        command = [str(mutmut), "run", "--max-children", str(args.children)] + names
        root = workspace(modules)
        if root == COURSE:
            prepare_course()
        try:
            if names:  # mutmut run without names would run every module
                subprocess.run(command, cwd=root, timeout=60 * args.minutes, check=False)
        except subprocess.TimeoutExpired:
            print(f"\ntime budget of {args.minutes:g} min reached; run again to continue where it stopped")
    print(report(modules))


if __name__ == "__main__":
    main()
