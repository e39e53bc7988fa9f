"""The time split: the newest requests form the eval split, those before them the validation split, cut on whole minutes."""

import dataclasses
from typing import Mapping

from models import features as f

TRAIN = "train"
VALID = "valid"
EVAL = "eval"
# Request splits, oldest requests first.
SPLITS = (TRAIN, VALID, EVAL)
# Not splits of requests: the catalog's items, for the export; validation
# requests' candidate sets in training-schema chunks, for the checkpoint
# choice (lists.valid_candidate_lists).
CATALOG = f.CATALOG_SPLIT
VALID_CANDIDATES = f.VALID_CANDIDATES_SPLIT


@dataclasses.dataclass(frozen=True)
class Cuts:
  """First unix seconds of the validation and the eval split.

  Requests with ts >= eval_ts are eval, those in [valid_ts, eval_ts) valid,
  the others train: no eval request is older than a validation request, and
  none of either is older than a train request.
  """
  valid_ts: int
  eval_ts: int

  def split_of(self, ts: int) -> str:
    if ts >= self.eval_ts:
      return EVAL
    return VALID if ts >= self.valid_ts else TRAIN


def minute_of(ts: int) -> int:
  return ts // 60


def newest_share_cut_ts(minute_counts: Mapping[int, int],
                        share: float) -> int:
  """The first unix second of the newest whole minutes holding `share`.

  Takes whole minutes, newest first, until they hold at least `share` of all
  requests.

  Args:
    minute_counts: number of requests per minute (ts // 60).
    share: share of requests wanted, in [0, 1].
  """
  if not minute_counts:
    return 0
  newest = max(minute_counts)
  if share <= 0:
    return (newest + 1) * 60
  # Shares that add up (0.1 + 0.2) carry float error: a hair below is met.
  target = share * sum(minute_counts.values()) - 1e-9
  taken = 0
  for minute in sorted(minute_counts, reverse=True):
    taken += minute_counts[minute]
    if taken >= target:
      return minute * 60
  return min(minute_counts) * 60


def cuts(minute_counts: Mapping[int, int], eval_share: float,
         valid_share: float) -> Cuts:
  """The cuts giving about `eval_share` eval and `valid_share` validation."""
  eval_ts = newest_share_cut_ts(minute_counts, eval_share)
  valid_ts = min(eval_ts, newest_share_cut_ts(minute_counts,
                                              min(1.0, eval_share
                                                  + valid_share)))
  return Cuts(valid_ts=valid_ts, eval_ts=eval_ts)
