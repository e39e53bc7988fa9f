"""Parameters of listwise example building, passed to the component as one JSON property."""

import dataclasses
import json

from models import checks


@dataclasses.dataclass(frozen=True)
class ListwiseParams:
  """How raw logs become listwise examples (DESIGN section 4).

  Attributes:
    list_size: fixed length of every list; entries beyond it are dropped in
      priority order (random negatives first, then unexposed candidates,
      out-of-scene purchases, exposed items last) and counted.
    num_unexposed: unexposed fine-ranking candidates sampled per request (M).
    num_random: random catalog negatives per request (R), for a request
      without a logged candidate set.
    num_candidate_negatives: negatives drawn uniformly from a request's
      logged candidate set, among candidates that reached neither the fine
      ranker nor a purchase, for a request that has one (instead of the R
      random ones): the distribution the coarse stage ranks at serving. 0
      gives every request random negatives.
    alpha: random negatives are drawn with p(i) ∝ (count(i) + smoothing)^alpha
      where count is the item's exposure count in the train split; 0 is
      uniform over the catalog.
    count_smoothing: added to every exposure count so never-exposed catalog
      items can be drawn (word2vec counts are never zero).
    attribution_window_s: an out-of-scene purchase is attributed to the same
      user's latest request in [purchase_ts - window, purchase_ts).
    eval_share: share of requests, the newest, in the eval split; the cut is
      on a whole minute.
    valid_share: share of requests, those just before the eval split, in the
      validation split, on which training chooses its checkpoint (so the
      eval split, which decides the blessing, is never used to choose).
    history_length: fixed length of the user history feature.
    num_eval_random: catalog items sampled uniformly and added to the
      impressions of an eval or validation request that has no logged
      `candidates`, to form its candidate set (the stand-in). Validation
      requests give the Trainer its checkpoint-choosing sets: those with a
      logged set when any has one, else every one with its stand-in.
    max_quarantine_share: the run fails when any table quarantines a larger
      share of its rows.
    seed: sampling is seeded per request from this seed and the request id.
  """

  list_size: int = 40
  num_unexposed: int = 10
  num_random: int = 16
  num_candidate_negatives: int = 16
  alpha: float = 0.75
  count_smoothing: float = 1.0
  attribution_window_s: int = 86_400
  eval_share: float = 0.1
  valid_share: float = 0.1
  history_length: int = 20
  num_eval_random: int = 400
  max_quarantine_share: float = 0.05
  seed: int = 0

  def __post_init__(self):
    checks.at_least(self, 1, "list_size", "history_length")
    checks.at_least(self, 0, "num_unexposed", "num_random",
                    "num_candidate_negatives", "num_eval_random",
                    "attribution_window_s", "alpha", "count_smoothing")
    checks.in_unit_interval(self, "eval_share", "valid_share",
                            "max_quarantine_share")
    if self.eval_share + self.valid_share > 1:
      raise ValueError(f"eval_share + valid_share must be <= 1, got "
                       f"{self.eval_share} + {self.valid_share}")

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), sort_keys=True)

  @classmethod
  def from_json(cls, text: str) -> "ListwiseParams":
    values = json.loads(text)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
      raise ValueError(f"unknown listwise parameters: {sorted(unknown)}")
    return cls(**values)
