"""PipelineConfig: every setting of a pipeline run in one frozen dataclass, each default written once."""

import dataclasses
from typing import Any, Tuple

from components.listwise import params as params_lib
from models import checks
from models import cutoffs
from models import hparams as hparams_lib
from models import preprocessing_config
from serving import constants

# Where a run may stop, in pipeline order: after the listwise examples, after
# Transform, after training, after the hitrate validation, or after the push
# (the whole pipeline).
STAGES = ("examples", "transform", "train", "validate", "push")
EXAMPLES, TRANSFORM, TRAIN, VALIDATE, PUSH = STAGES

RUN_FN = "models.trainer.run_fn"
BASELINE_RUN_FN = "models.trainer.baseline_run_fn"
PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
TUNER_FN = "models.tuner.tuner_fn"
DEFAULT_PIPELINE_NAME = "coarse-rank"
DEFAULT_MODEL_NAME = constants.DEFAULT_MODEL_NAME
# Local Beam runs: DirectRunner with worker processes, or in one process.
BEAM_MODES = ("multi_processing", "in_memory")
DEFAULT_BEAM_WORKERS = 2


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
  """The hitrate validation and its blessing rules (DESIGN section 6).

  A cutoff K is a number of candidates ("100") or a share of each request's
  candidate set ("5%"), which means the same on logs whose candidate sets
  differ in size (models/cutoffs.py).

  Attributes:
    k_main: the cutoff of the hitrate that decides the blessing.
    ks: every cutoff reported and plotted (k_main is added).
    threshold: minimum global hitrate@k_main.
    tolerance: allowed drop below the last blessed model's value.
    head_share: share of most-exposed candidate items counted as head.
    beat_yardsticks: bless only a model whose global hitrate@k_main beats
      the best of the yardsticks' (popularity, sales and counts: scores
      from counts of the train split with no fitted parameter,
      components/validation/scorers.py).
    compare_to_last_blessed: evaluate the last blessed model on the same
      sets and refuse a regression beyond `tolerance`; off for studies that
      train many models side by side.
  """
  k_main: str = "5%"
  ks: Tuple[str, ...] = ("10", "50", "100", "200", "500", "1000", "1%", "5%",
                         "10%", "25%")
  threshold: float = 0.2
  tolerance: float = 0.01
  head_share: float = 0.2
  beat_yardsticks: bool = True
  compare_to_last_blessed: bool = True

  def __post_init__(self):
    if not self.ks:
      raise ValueError("ks must name at least one cutoff")
    for name, values in (("k_main", (self.k_main,)), ("ks", self.ks)):
      for k in values:
        try:
          cutoffs.parse(k)
        except ValueError as e:
          raise ValueError(f"{name}: {e}") from None
    checks.in_unit_interval(self, "threshold", "head_share")
    checks.at_least(self, 0, "tolerance")

  @property
  def all_ks(self) -> Tuple[str, ...]:
    """`ks` and `k_main`, each once: counts ascending, then shares."""
    return cutoffs.ordered([*self.ks, self.k_main])


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """One pipeline run's settings: what `create_pipeline` wires.

  Attributes:
    listwise: how raw logs become listwise examples.
    preprocessing: Transform settings.
    hparams: model and training hyperparameters.
    validation: the hitrate validation and blessing rules.
    train_steps: Trainer steps.
    eval_steps: Trainer evaluation steps.
    run_fn: dotted path of the Trainer's run_fn (e.g. BASELINE_RUN_FN for
      the TFRS retrieval baseline).
    preprocessing_fn: dotted path of Transform's preprocessing_fn.
    stop_after: the last stage that runs, one of STAGES.
    tune: run the Tuner (KerasTuner random search over
      models/tuner.py:SEARCH_SPACE) before training; the Trainer starts from
      the best trial's values.
    tune_trials: trials of the search.
    tune_train_steps: training steps of each trial.
    pipeline_name: the pipeline's name (and ML Metadata context).
    model_name: the served model's name: blessed models are pushed to
      `<serving_dir>/<model_name>/<version>`.
  """
  listwise: params_lib.ListwiseParams = params_lib.ListwiseParams()
  preprocessing: preprocessing_config.PreprocessingConfig = (
      preprocessing_config.PreprocessingConfig())
  hparams: hparams_lib.HParams = hparams_lib.HParams()
  validation: ValidationConfig = ValidationConfig()
  train_steps: int = 2_000
  eval_steps: int = 20
  run_fn: str = RUN_FN
  preprocessing_fn: str = PREPROCESSING_FN
  stop_after: str = dataclasses.field(default=PUSH,
                                      metadata={"choices": STAGES})
  tune: bool = False
  tune_trials: int = 6
  tune_train_steps: int = 500
  pipeline_name: str = DEFAULT_PIPELINE_NAME
  model_name: str = DEFAULT_MODEL_NAME

  def __post_init__(self):
    checks.at_least(self, 1, "train_steps", "eval_steps", "tune_trials",
                    "tune_train_steps")
    if self.stop_after not in STAGES:
      raise ValueError(f"stop_after must be one of {list(STAGES)}, got "
                       f"{self.stop_after!r}")
    for name in ("run_fn", "preprocessing_fn"):
      module, _, function = getattr(self, name).rpartition(".")
      if not module or not function:
        raise ValueError(f"{name} must be a dotted path module.function, "
                         f"got {getattr(self, name)!r}")

  def runs(self, stage: str) -> bool:
    """Whether `stage` is part of this run."""
    return STAGES.index(stage) <= STAGES.index(self.stop_after)

  def replace(self, **changes: Any) -> "PipelineConfig":
    """A copy with top-level fields, or nested ones as `hparams__seed=1`."""
    top, nested = {}, {}
    for key, value in changes.items():
      if "__" in key:
        group, field = key.split("__", 1)
        nested.setdefault(group, {})[field] = value
      else:
        top[key] = value
    for group, fields in nested.items():
      top[group] = dataclasses.replace(top.get(group, getattr(self, group)),
                                       **fields)
    return dataclasses.replace(self, **top)
