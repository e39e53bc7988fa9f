"""Hitrate over whole candidate sets (NumPy): the measure the blessing reads, also what chooses the Trainer's checkpoint.

hitrate@K = Σ_r |TopK(C_r) ∩ B_r| / Σ_r |B_r| over requests r with candidate
set C_r and purchased set B_r; K is a count or a share of each set
(cutoffs.py). Ties at the cutoff count in expectation.
"""

from typing import Sequence

import numpy as np

from models import cutoffs


def expected_hits(scores: np.ndarray, positive: np.ndarray, k: int) -> float:
  """E|TopK ∩ positives| with ties broken uniformly at random.

  Args:
    scores: `[n]` scores of distinct candidates; NaN ranks last.
    positive: `[n]` bool.
    k: cutoff, >= 1.
  """
  scores = np.where(np.isnan(scores), -np.inf, np.asarray(scores, float))
  positive = np.asarray(positive, dtype=bool)
  n = scores.shape[0]
  if k >= n:
    return float(positive.sum())
  kth = np.partition(scores, n - k)[n - k]  # the k-th largest score
  above = scores > kth
  tied = scores == kth
  slots = k - int(above.sum())
  return float(positive[above].sum()
               + positive[tied].sum() * slots / int(tied.sum()))


def hitrate(request_keys: Sequence, scores: np.ndarray, positive: np.ndarray,
            cutoff: str) -> float:
  """Hitrate@cutoff of candidate sets given entry by entry.

  Args:
    request_keys: `[n]` the request of each entry; a request's entries form
      its candidate set (each item once).
    scores: `[n]` float, NaN ranks last.
    positive: `[n]` bool, purchased.
    cutoff: "100" or "5%" (cutoffs.parse).

  Returns:
    The hitrate; NaN when there is no purchase.
  """
  parsed = cutoffs.parse(cutoff)
  keys = np.asarray(request_keys)
  if not keys.size:
    return float("nan")
  order = np.argsort(keys, kind="stable")
  keys, scores = keys[order], np.asarray(scores, float)[order]
  positive = np.asarray(positive, bool)[order]
  starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
  ends = np.append(starts[1:], keys.size)
  hits = sum(expected_hits(scores[s:e], positive[s:e], parsed.k(e - s))
             for s, e in zip(starts, ends))
  total = positive.sum()
  return float(hits / total) if total else float("nan")
