"""Requests to rank and the serving_default inputs of a batch of them (the signature in models/serving.py)."""

import dataclasses
from typing import Dict, Optional, Sequence

import numpy as np

from models import features as f
from models import serving as model_serving


@dataclasses.dataclass(frozen=True)
class RankRequest:
  """One search request to rank (DESIGN section 7); unknown values are valid.

  Attributes:
    user_id, query: the user and the raw query text.
    candidate_item_ids: the N item ids to score.
    user_history: items the user bought before, newest first.
    age_bucket, purchase_power: profile integers, features.UNKNOWN_INT if
      unknown.
    gender: "" if unknown.
  """

  user_id: str
  query: str
  candidate_item_ids: Sequence[str]
  user_history: Sequence[str] = ()
  age_bucket: int = f.UNKNOWN_INT
  purchase_power: int = f.UNKNOWN_INT
  gender: str = f.PAD_STRING


def _pad(rows: Sequence[Sequence[str]], width: Optional[int],
         what: str) -> np.ndarray:
  """Bytes `[len(rows), width]`, "" after each row; width: the longest, >= 1."""
  longest = max((len(r) for r in rows), default=0)
  width = max(longest, 1) if width is None else width
  if longest > width:
    raise ValueError(f"{longest} {what}, more than the padded width {width}")
  out = np.full((len(rows), width), f.PAD_STRING.encode(), dtype=object)
  for i, row in enumerate(rows):
    out[i, :len(row)] = [v.encode() for v in row]
  return out


def rank_inputs(requests: Sequence[RankRequest],
                pad_candidates_to: Optional[int] = None,
                history_length: Optional[int] = None
                ) -> Dict[str, np.ndarray]:
  """The serving_default inputs of a batch of requests.

  Candidates and histories are padded with "" to the longest of the batch,
  or to `pad_candidates_to` / `history_length` (longer histories are cut,
  keeping the newest). Fixed widths give every request the same shape, which
  TF Serving's batching needs.
  """
  histories = [list(r.user_history)[:history_length] for r in requests]
  strings = lambda values: np.array([v.encode() for v in values],
                                    dtype=object)
  return {
      f.USER_ID: strings([r.user_id for r in requests]),
      f.QUERY: strings([r.query for r in requests]),
      f.GENDER: strings([r.gender for r in requests]),
      f.AGE_BUCKET: np.array([r.age_bucket for r in requests], np.int64),
      f.PURCHASE_POWER: np.array([r.purchase_power for r in requests],
                                 np.int64),
      f.USER_HISTORY: _pad(histories, history_length, "history items"),
      model_serving.CANDIDATE_ITEM_IDS: _pad(
          [r.candidate_item_ids for r in requests], pad_candidates_to,
          "candidates"),
  }
