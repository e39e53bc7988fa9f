"""Training hyperparameters: one frozen dataclass, passed to the Trainer through custom_config."""

import dataclasses
from typing import Any, Mapping, Optional, Tuple

from models import checks
from models import features as f

# Key of the hyperparameters inside the Trainer's custom_config.
CUSTOM_CONFIG_KEY = "hparams"
# What may choose the checkpoint (HParams.checkpoint_metric).
CANDIDATE_HITRATE = "candidate_hitrate"
CHECKPOINT_METRICS = (CANDIDATE_HITRATE, "loss", "purchase_ndcg_at_10",
                      "purchase_hitrate_at_10")
# How the fine ranker's scores become the distillation teacher's logits.
TEACHER_TRANSFORMS = ("standardize", "rank", "none")
# Key of the number of trials inside the Tuner's custom_config.
MAX_TRIALS_KEY = "max_trials"
# Key of the cutoff of the candidate hitrate (the validator's k_main) inside
# the Trainer's and the Tuner's custom_config.
CHECKPOINT_CUTOFF_KEY = "checkpoint_cutoff"
DEFAULT_CHECKPOINT_CUTOFF = "5%"


@dataclasses.dataclass(frozen=True)
class HParams:
  """Model and training hyperparameters (DESIGN section 5).

  Attributes:
    embedding_dim: size of the query and item embeddings.
    feature_dim: size of each input feature embedding in the towers.
    hidden_dim: width of the hidden layer of each tower.
    temperature: score s = <q, i> / temperature (embeddings are L2-normed);
      0.2 was the best across the world suite (0.05 to 0.35 measured).
    learning_rate: Adam learning rate.
    batch_size: lists per training batch.
    embedding_l2: l2 penalty on every embedding table (0: none); rare ids
      then stay near zero and the item's attributes and statistics carry it.
    dropout: dropout rate of the towers' hidden layers in training.
    checkpoints: training is evaluated on the validation split this many
      times, evenly spaced; the exported weights are those with the best
      `checkpoint_metric` (1: the end of training).
    checkpoint_metric: what chooses the checkpoint: "candidate_hitrate"
      (highest global hitrate at the validator's k_main over the
      validation requests' candidate sets, the measure the blessing reads;
      the validation loss where there is no such set), "loss" (lowest
      validation loss) or a ranking metric of the task on the validation
      lists, "purchase_ndcg_at_10" or "purchase_hitrate_at_10" (highest).
    w_exposure, w_click, w_purchase: weights of the listwise softmax loss of
      each objective.
    w_distillation: weight of the listwise distillation loss.
    teacher_transform: what the fine ranker's scores become before the
      teacher's tempered softmax, per list over the distillation set:
      "standardize" (minus their mean, over their standard deviation: a
      logit, a probability or any score on its own scale gives a teacher
      of the same sharpness), "rank" (minus the rank, best 0: the same
      teacher for every monotone transform of the scores) or "none".
    w_in_batch: weight of the in-batch softmax: each list's clicked entries
      against the other lists' clicked entries, without logQ correction
      (the negatives of TFRS retrieval; 0 leaves it out). 0.5 by default:
      with it the model beat the TFRS baseline in the suite's sparse world,
      where the logQ-corrected negatives alone did not (docs/quality).
    distillation_temperature: teacher softmax temperature T over fine scores.
    label_smoothing: epsilon of the teacher's label smoothing.
    distill_unexposed: distil over exposed and unexposed items with a fine
      score (True) or exposed items only (False).
    revised_softmax: each positive against the negatives only (True) or the
      plain multi-positive softmax (False, the ablation).
    log_q_correction: subtract the log sampling probability from the logits
      of random negatives, so the sampled softmax estimates the softmax
      over the whole catalog (on by default: measured on the world suite,
      docs/quality/suite.md; without it the frequency-matched negatives hide
      popularity from the model).
    train_on_unexposed: the losses see unexposed fine-ranking candidates
      (False: they are treated as padding, the ablation).
    train_on_out_of_scene: the losses see purchases made in other scenes
      (False: they are treated as padding, the ablation).
    match_head: add to the two-tower score a small head over the
      candidate's match features given the request (query-category and
      query-brand lift, the history's share of its category and brand, the
      price gap, models/layers/match.py) and its item statistics, all
      computed inside the model from counts of the train lists.
    head_hidden_dim: width of the head's hidden layer.
    id_dropout: in training, each list entry's item id and each request's
      user id is replaced by the padding id with this probability, so the
      towers learn from attributes and history as well as from ids.
    top_k: K of the serving signature's top-K output (K = min(N, top_k)).
    max_candidates: the serving signatures refuse more candidates than this.
    seed: seed of weight initialisation and data shuffling.
  """

  embedding_dim: int = 32
  feature_dim: int = 32
  hidden_dim: int = 64
  temperature: float = 0.2
  learning_rate: float = 0.005
  batch_size: int = 64
  embedding_l2: float = 0.0
  dropout: float = 0.0
  checkpoints: int = 10
  checkpoint_metric: str = dataclasses.field(
      default=CANDIDATE_HITRATE, metadata={"choices": CHECKPOINT_METRICS})
  w_exposure: float = 0.2
  w_click: float = 0.5
  w_purchase: float = 1.0
  w_distillation: float = 0.5
  w_in_batch: float = 0.5
  teacher_transform: str = dataclasses.field(
      default="standardize", metadata={"choices": TEACHER_TRANSFORMS})
  distillation_temperature: float = 1.0
  label_smoothing: float = 0.1
  distill_unexposed: bool = True
  revised_softmax: bool = True
  log_q_correction: bool = True
  train_on_unexposed: bool = True
  train_on_out_of_scene: bool = True
  match_head: bool = True
  head_hidden_dim: int = 32
  id_dropout: float = 0.0
  top_k: int = 100
  max_candidates: int = 10_000
  seed: int = 0

  def __post_init__(self):
    checks.at_least(self, 1, "embedding_dim", "feature_dim", "hidden_dim",
                    "batch_size", "checkpoints", "top_k", "max_candidates",
                    "head_hidden_dim")
    checks.at_least(self, 0, "embedding_l2")
    checks.in_range(self, 0, 1, "dropout", "id_dropout", include_high=False)
    for name, allowed in (("checkpoint_metric", CHECKPOINT_METRICS),
                          ("teacher_transform", TEACHER_TRANSFORMS)):
      if getattr(self, name) not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got "
                         f"{getattr(self, name)!r}")
    checks.positive(self, "temperature", "learning_rate",
                    "distillation_temperature")
    checks.at_least(self, 0, "w_exposure", "w_click", "w_purchase",
                    "w_distillation", "w_in_batch")
    checks.in_range(self, 0, 1, "label_smoothing", include_high=False)

  @property
  def excluded_sample_types(self) -> Tuple[int, ...]:
    """List entry types (features.SAMPLE_*) the losses treat as padding."""
    return tuple(t for t, used in (
        (f.SAMPLE_UNEXPOSED, self.train_on_unexposed),
        (f.SAMPLE_OUT_OF_SCENE, self.train_on_out_of_scene)) if not used)

  def to_custom_config(self) -> dict:
    return {CUSTOM_CONFIG_KEY: dataclasses.asdict(self)}

  @classmethod
  def from_custom_config(
      cls, custom_config: Optional[Mapping[str, Any]]) -> "HParams":
    values = dict((custom_config or {}).get(CUSTOM_CONFIG_KEY) or {})
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f"unknown hyperparameters: {sorted(unknown)}")
    return cls(**values)
