"""Hitrate@K over evaluation candidate sets (NumPy) and NDCG@K over exposed lists (DESIGN section 6).

hitrate@K = Σ_r |TopK(C_r) ∩ B_r| / Σ_r |B_r| over requests r with candidate
set C_r and purchased set B_r ⊆ C_r. K is a number of candidates or a share
of each set (cutoffs.py).

Conventions:
  - A candidate listed twice counts once, with its highest score and the
    union of its labels.
  - Ties are broken uniformly at random, in expectation: when the K-th place
    falls inside a group of equal scores, each tied purchase counts as the
    fraction of the group's items that fit in the top K. The result does not
    depend on candidate order.
  - K larger than a set takes the whole set.
  - A metric whose denominator is zero (no purchases of that kind) is NaN.
"""

import collections
import dataclasses
from typing import Dict, Iterable, Mapping, Sequence, Tuple

import numpy as np

from models import cutoffs
from models.metrics import candidate_sets
from models.metrics import listwise

# Which purchases a hitrate counts: all, bought in the search, bought in
# another scene, of head items, of tail items; and stage consistency, which
# counts no purchase: the share of the fine ranker's FINE_TOP best
# candidates (by their logged fine score) that the scorer's top K keeps.
SLICES = ("global", "in_scene", "out_of_scene", "head", "tail", "fine_top10")
GLOBAL, IN_SCENE, OUT_OF_SCENE, HEAD, TAIL, FINE_TOP10 = SLICES
FINE_TOP = 10


@dataclasses.dataclass
class EvalSet:
  """One eval request's candidate set; arrays are `[num_candidates]`.

  The last four fields are what the yardsticks read (scorers.py); a set
  built without them scores 0 for sales and the counts' shares.
  """
  request_id: str
  item_ids: np.ndarray  # str
  in_scene: np.ndarray  # bool: purchased in search.
  out_of_scene: np.ndarray  # bool: purchased elsewhere, attributed.
  train_exposures: np.ndarray  # int: exposures in the train split.
  fine_score: np.ndarray  # float; NaN where the fine ranker has none.
  train_sales: np.ndarray = None  # int: train-period transactions.
  query_category_log_share: np.ndarray = None  # float.
  query_brand_log_share: np.ndarray = None  # float.
  history_category_share: np.ndarray = None  # float.

  def __post_init__(self):
    n = np.asarray(self.item_ids).shape[0]
    for name in ("train_sales", "query_category_log_share",
                 "query_brand_log_share", "history_category_share"):
      if getattr(self, name) is None:
        setattr(self, name, np.zeros(n))


def dedupe(item_ids: np.ndarray, scores: np.ndarray,
           *labels: np.ndarray) -> Tuple[np.ndarray, ...]:
  """(scores, labels...) with one entry per distinct item.

  Each item keeps its highest score and the logical OR of its labels.
  """
  unique, inverse = np.unique(np.asarray(item_ids), return_inverse=True)
  best = np.full(unique.shape[0], -np.inf)
  np.maximum.at(best, inverse, np.asarray(scores, dtype=np.float64))
  merged = []
  for label in labels:
    out = np.zeros(unique.shape[0], dtype=bool)
    np.logical_or.at(out, inverse, np.asarray(label, dtype=bool))
    merged.append(out)
  return (best, *merged)


def head_threshold(sets: Iterable[EvalSet], head_share: float = 0.2) -> int:
  """Train exposures at or above which a candidate item is 'head'.

  The head is the `head_share` most-exposed distinct items among all
  candidates (at least one exposure).
  """
  return head_threshold_of_histogram(
      collections.Counter(exposure_lookup(sets).values()), head_share)


def head_threshold_of_histogram(items_per_count: Mapping[int, int],
                                head_share: float = 0.2) -> int:
  """head_threshold from exposures -> number of distinct items with them."""
  counts = sorted(items_per_count.items(), reverse=True) or [(0, 1)]
  top = max(1, int(np.ceil(head_share * sum(n for _, n in counts))))
  seen = 0
  for exposures, items in counts:
    seen += items
    if seen >= top:
      return max(1, int(exposures))
  raise AssertionError("unreachable: top <= the number of items")


def set_hits(s: EvalSet, score: np.ndarray, parsed: Sequence[cutoffs.Cutoff],
             head_min_exposures: int) -> np.ndarray:
  """One set's share of hitrate's sums.

  Args:
    s: an eval candidate set.
    score: a model's `[num_candidates]` scores of it.
    parsed: the cutoffs (cutoffs.parse).
    head_min_exposures: train exposures that make an item 'head'.

  Returns:
    `[len(SLICES), len(parsed) + 1]`: per slice, the expected hits at each
    cutoff, then the slice's purchases (for FINE_TOP10, the fine ranker's
    top items). Sets' arrays add up; `rates` turns the sum into hitrates.
  """
  head_item = np.asarray(s.train_exposures) >= head_min_exposures
  score = np.asarray(score, dtype=float)
  best, in_scene, out_scene, head = dedupe(
      s.item_ids, np.where(np.isnan(score), -np.inf, score), s.in_scene,
      s.out_of_scene, head_item)
  bought = in_scene | out_scene
  positives = {GLOBAL: bought, IN_SCENE: in_scene, OUT_OF_SCENE: out_scene,
               HEAD: bought & head, TAIL: bought & ~head,
               FINE_TOP10: fine_top(s)}
  out = np.zeros((len(SLICES), len(parsed) + 1))
  for row, name in enumerate(SLICES):
    positive = positives[name]
    if positive.any():
      out[row, :-1] = [candidate_sets.expected_hits(
          best, positive, c.k(best.shape[0]))
                       for c in parsed]
      out[row, -1] = positive.sum()
  return out


def fine_top(s: EvalSet, n: int = FINE_TOP) -> np.ndarray:
  """bool over the set's distinct items (dedupe's order): the `n` with the
  highest logged fine score (an item's highest), among those that have
  one; equal scores at the n-th place are taken in item id order."""
  fine = np.asarray(s.fine_score, dtype=float)
  (best,) = dedupe(s.item_ids, np.where(np.isnan(fine), -np.inf, fine))
  order = np.argsort(-best, kind="stable")[:n]
  top = np.zeros(best.shape[0], dtype=bool)
  top[order[np.isfinite(best[order])]] = True
  return top


def rates(sums: np.ndarray, ks: Sequence[str]) -> Dict[str, Dict[str, float]]:
  """Hitrates from summed set_hits: slice -> cutoff -> value (NaN: no purchase)."""
  parsed = [cutoffs.parse(k) for k in ks]
  return {name: {c.text: (float(row[i] / row[-1]) if row[-1] else np.nan)
                 for i, c in enumerate(parsed)}
          for name, row in zip(SLICES, sums)}


def hitrate(sets: Sequence[EvalSet], scores: Sequence[np.ndarray],
            ks: Sequence[str], head_min_exposures: int
            ) -> Dict[str, Dict[str, float]]:
  """Hitrate@K per slice (global, in/out of scene, head/tail items).

  Args:
    sets: the eval candidate sets.
    scores: a model's scores, one `[num_candidates]` array per set.
    ks: cutoffs, e.g. "100" or "5%" (see cutoffs.parse).
    head_min_exposures: train exposures that make an item 'head'.

  Returns:
    slice -> cutoff -> hitrate (NaN when the slice has no purchase).
  """
  parsed = [cutoffs.parse(k) for k in ks]
  sums = np.zeros((len(SLICES), len(parsed) + 1))
  for s, score in zip(sets, scores):
    sums += set_hits(s, score, parsed, head_min_exposures)
  return rates(sums, ks)


def _padded(rows: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
  """Ragged float rows as `[num_rows, longest]` (0 on padding) and its mask."""
  width = max([len(row) for row in rows] + [1])
  values = np.zeros((len(rows), width))
  mask = np.zeros((len(rows), width), dtype=bool)
  for i, row in enumerate(rows):
    values[i, :len(row)] = row
    mask[i, :len(row)] = True
  return values, mask


def ndcg_at_k(gains: Sequence[np.ndarray], scores: Sequence[np.ndarray],
              k: int) -> float:
  """Mean NDCG@k over lists with a positive gain; NaN if there is none.

  Gains are graded (e.g. 2 purchase, 1 click); DCG = Σ (2^g - 1) /
  log2(rank + 1), ties broken by list order (a stable sort), NaN scores
  ranked last. The lists are padded and scored by the model's
  `listwise.ndcg_at_k`, in float64.

  Args:
    gains: one `[list_size]` array of non-negative gains per list.
    scores: the lists' `[list_size]` scores, in the same order.
    k: cutoff, a positive int.
  """
  return ndcg_of_sums(ndcg_sums(gains, scores, k))


def ndcg_sums(gains: Sequence[np.ndarray], scores: Sequence[np.ndarray],
              k: int) -> np.ndarray:
  """`[2]`: the lists' summed NDCG@k and their number (lists with a gain).

  The sums of batches of lists add up; ndcg_of_sums gives their mean.
  """
  if not len(gains):
    return np.zeros(2)
  labels, mask = _padded(gains)
  padded_scores, _ = _padded(scores)
  value, weight = listwise.ndcg_at_k(labels, padded_scores, mask, k)
  value, weight = value.numpy(), weight.numpy()
  return np.array([(value * weight).sum(), weight.sum()])


def ndcg_of_sums(sums: np.ndarray) -> float:
  """Mean NDCG from ndcg_sums (NaN when no list has a gain)."""
  return float(sums[0] / sums[1]) if sums[1] else float("nan")


def exposure_lookup(sets: Iterable[EvalSet]) -> Dict[str, int]:
  """Item id -> train exposures, over every candidate of the sets."""
  out: Dict[str, int] = {}
  for s in sets:
    out.update(zip(s.item_ids, (int(c) for c in s.train_exposures)))
  return out


def as_json(table: Mapping[str, Mapping[str, float]]) -> dict:
  """JSON-safe copy: NaN as None."""
  return {name: {str(k): (None if np.isnan(v) else v) for k, v in row.items()}
          for name, row in table.items()}
