"""The compared scorers (fine ranker, TFRS baseline, full model, five ablations) and the published findings."""

import dataclasses
from typing import Any, Mapping, Optional, Tuple

from components.listwise import params as params_lib
from components.validation import scorers
from models import hparams as hparams_lib
from tfx_pipeline import config as config_lib

FINE_RANKER = scorers.FINE_RANKER
BASELINE = "tfrs_baseline"
FULL = "full"
NO_DISTILLATION = "no_distillation"
NO_UNEXPOSED = "no_unexposed"
NO_OUT_OF_SCENE = "no_out_of_scene"
PLAIN_SOFTMAX = "plain_softmax"
UNIFORM_NEGATIVES = "uniform_negatives"

# Hitrate cutoffs of the report; the findings are stated at HEADLINE_K and
# at the largest K.
DEFAULT_KS = ("10", "20", "50", "100", "200", "300")
HEADLINE_K = "100"



@dataclasses.dataclass(frozen=True)
class Variant:
  """A trained scorer: its Trainer entry point and what it changes.

  Attributes:
    name: short name used in tables and directories.
    description: one line for the report.
    run_fn: dotted path of the TFX Trainer run_fn.
    hparams: HParams fields set on top of the run's hyperparameters.
    alpha: ListwiseParams.alpha of its training lists; None keeps the run's.
  """
  name: str
  description: str
  run_fn: str = config_lib.RUN_FN
  hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  alpha: Optional[float] = None

  def hparams_for(self, base: hparams_lib.HParams,
                  seed: int) -> hparams_lib.HParams:
    """The run's hyperparameters with this variant's changes and `seed`."""
    return dataclasses.replace(base, **self.hparams, seed=seed)

  def listwise_params_for(self, base: params_lib.ListwiseParams
                          ) -> params_lib.ListwiseParams:
    """The list-building parameters of this variant's training examples."""
    if self.alpha is None:
      return base
    return dataclasses.replace(base, alpha=self.alpha)


VARIANTS: Tuple[Variant, ...] = (
    Variant(BASELINE, "plain TFRS two-tower retrieval on (query, clicked "
            "item) pairs, in-batch softmax", run_fn=config_lib.BASELINE_RUN_FN),
    Variant(FULL, "the coarse ranker as shipped: every loss, every sample "
            "type, frequency-based negatives"),
    Variant(NO_DISTILLATION, "full model without the distillation loss",
            hparams={"w_distillation": 0.0}),
    Variant(NO_UNEXPOSED, "full model without unexposed fine-ranking "
            "candidates (treated as padding)",
            hparams={"train_on_unexposed": False}),
    Variant(NO_OUT_OF_SCENE, "full model without purchases from other "
            "scenes (treated as padding)",
            hparams={"train_on_out_of_scene": False}),
    Variant(PLAIN_SOFTMAX, "full model with the plain multi-positive "
            "softmax instead of the revised one",
            hparams={"revised_softmax": False}),
    Variant(UNIFORM_NEGATIVES, "full model with uniform random negatives "
            "(alpha = 0) instead of frequency-based ones", alpha=0.0),
)
BY_NAME = {v.name: v for v in VARIANTS}


@dataclasses.dataclass(frozen=True)
class Finding:
  """A published claim: `variant` beats `against` on `metric`.

  Attributes:
    claim: the finding as published.
    variant: the scorer expected to be better.
    against: the scorer it is compared with.
    metric: a flat metric name (see summary.flatten), e.g. "tail@100"; the
      string "{large_k}" is replaced by the report's largest K (a count).
  """
  claim: str
  variant: str
  against: str
  metric: str

  def metric_at(self, large_k: str) -> str:
    return self.metric.replace("{large_k}", large_k)


FINDINGS: Tuple[Finding, ...] = (
    Finding("the coarse model overtakes the fine ranker's global hitrate at "
            "large K", FULL, FINE_RANKER, "global@{large_k}"),
    Finding("distillation helps (global hitrate@100)", FULL,
            NO_DISTILLATION, "global@100"),
    Finding("the revised softmax beats the plain one on NDCG@10", FULL,
            PLAIN_SOFTMAX, "ndcg@10"),
    Finding("frequency-based negatives raise tail hitrate (@100)", FULL,
            UNIFORM_NEGATIVES, "tail@100"),
    Finding("out-of-scene positives raise out-of-scene hitrate (@100)", FULL,
            NO_OUT_OF_SCENE, "out_of_scene@100"),
    Finding("unexposed items help (global hitrate@100)", FULL, NO_UNEXPOSED,
            "global@100"),
    Finding("the listwise multi-objective model beats a plain two-tower "
            "retrieval model (global hitrate@100)", FULL, BASELINE,
            "global@100"),
)


def select(names) -> Tuple[Variant, ...]:
  """The variants named, in VARIANTS order; ValueError names unknown ones."""
  unknown = sorted(set(names) - set(BY_NAME))
  if unknown:
    raise ValueError(f"unknown variants {unknown}; known: {sorted(BY_NAME)}")
  return tuple(v for v in VARIANTS if v.name in set(names))
