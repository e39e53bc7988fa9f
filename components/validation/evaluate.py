"""Evaluates scorers (the candidate model, the fine ranker, the yardsticks, the last blessed model) on the same eval sets.

The evaluation is a sum over requests: each batch of eval sets (set_sums)
and of exposed lists (list_sums) gives arrays that add up, and `summarize`
turns their total into the metrics. `evaluate` does it in one process, on
data in memory; beam_evaluate.py runs the same functions as a Beam job.
"""

from typing import Dict, List, Mapping, Sequence

import numpy as np

from components.validation import data
from components.validation import metrics
from components.validation import scorers
from models import cutoffs

NDCG_K = 10
ScoreFn = scorers.ScoreFn
# Per-request counts, summed: their order in the _TOTALS sum.
COUNT_NAMES = ("requests", "purchases", "purchases_in_scene",
               "purchases_out_of_scene", "candidates", "exposed_lists")
_TOTALS = "totals"
_HITS = "hits/"  # + scorer name: summed metrics.set_hits.
_NDCG = "ndcg/"  # + scorer name: summed metrics.ndcg_sums.
# Sum name -> summed array.
Sums = Dict[str, np.ndarray]


def scorer_names(score_fns: Mapping[str, ScoreFn]) -> List[str]:
  """Every scorer reported besides the fine ranker: the yardsticks, then
  the models."""
  return [*scorers.YARDSTICKS, *score_fns]


def _counts(**values) -> np.ndarray:
  return np.array([values.get(name, 0) for name in COUNT_NAMES], float)


def set_sums(sets: Sequence[metrics.EvalSet], contexts: Sequence[dict],
             score_fns: Mapping[str, ScoreFn], ks: Sequence[str],
             head_min_exposures: int) -> Sums:
  """Summed hits of a batch of eval sets per scorer (the fine ranker and the yardsticks too), and counts."""
  parsed = [cutoffs.parse(k) for k in ks]
  candidates = [list(s.item_ids) for s in sets]
  yardsticks = [scorers.yardstick_scores(s) for s in sets]
  scores = {scorers.FINE_RANKER: [s.fine_score for s in sets],
            **{name: [y[name] for y in yardsticks]
               for name in scorers.YARDSTICKS},
            **{name: score(contexts, candidates)
               for name, score in score_fns.items()}}
  out = {_TOTALS: _counts(
      requests=len(sets),
      purchases=sum(int((s.in_scene | s.out_of_scene).sum()) for s in sets),
      purchases_in_scene=sum(int(s.in_scene.sum()) for s in sets),
      purchases_out_of_scene=sum(int(s.out_of_scene.sum()) for s in sets),
      candidates=sum(len(s.item_ids) for s in sets))}
  for name, rows in scores.items():
    out[_HITS + name] = sum(
        (metrics.set_hits(s, row, parsed, head_min_exposures)
         for s, row in zip(sets, rows)),
        np.zeros((len(metrics.SLICES), len(parsed) + 1)))
  return out


def list_sums(lists: Sequence[data.ExposedList],
              score_fns: Mapping[str, ScoreFn]) -> Sums:
  """Summed NDCG@10 of a batch of exposed lists per scorer, and their count.

  The fine ranker, popularity and sales are scored from the lists' own
  columns; the counts yardstick is not (its query shares are computed for
  candidate sets only), so its NDCG is NaN.
  """
  gains = [x.gains for x in lists]
  items = [list(x.item_ids) for x in lists]
  contexts = [x.context for x in lists]
  out = {_TOTALS: _counts(exposed_lists=len(lists))}
  for name, column in ((scorers.FINE_RANKER, "fine_score"),
                       (scorers.POPULARITY, "exposures"),
                       (scorers.SALES, "sales")):
    out[_NDCG + name] = metrics.ndcg_sums(
        gains, [getattr(x, column) for x in lists], NDCG_K)
  for name, score in score_fns.items():
    out[_NDCG + name] = metrics.ndcg_sums(gains, score(contexts, items),
                                          NDCG_K)
  return out


def add(a: Sums, b: Sums) -> Sums:
  """Element-wise sum of two Sums (a name missing from one counts as 0)."""
  return {name: a.get(name, 0) + b.get(name, 0) for name in {*a, *b}}


def summarize(sums: Sums, names: Sequence[str], ks: Sequence[str],
              head_min_exposures: int) -> dict:
  """The metrics of summed set_sums and list_sums.

  Args:
    sums: the total of set_sums and list_sums of every set and list.
    names: the scorers to report (the fine ranker is always reported;
      scorer_names gives the yardsticks and the models).
    ks: the cutoffs the sets were summed with.
    head_min_exposures: the head threshold they were summed with.

  Returns:
    {"ks", "head_min_exposures", "requests", "purchases", "counts": {
    "purchases_in_scene", "purchases_out_of_scene", "mean_candidates",
    "exposed_lists"}, "hitrate": {scorer: {slice: {cutoff: value}}},
    "ndcg@10": {scorer: value}}; NaN where a denominator is 0.
  """
  counts = dict(zip(COUNT_NAMES, sums.get(_TOTALS, _counts())))
  requests = int(counts["requests"])
  empty = np.zeros((len(metrics.SLICES), len(ks) + 1))
  names = [scorers.FINE_RANKER, *names]
  return {
      "ks": list(ks), "head_min_exposures": head_min_exposures,
      "requests": requests, "purchases": int(counts["purchases"]),
      "counts": {
          "purchases_in_scene": int(counts["purchases_in_scene"]),
          "purchases_out_of_scene": int(counts["purchases_out_of_scene"]),
          "mean_candidates": (counts["candidates"] / requests
                              if requests else 0.0),
          "exposed_lists": int(counts["exposed_lists"])},
      "hitrate": {name: metrics.rates(sums.get(_HITS + name, empty), ks)
                  for name in names},
      f"ndcg@{NDCG_K}": {name: metrics.ndcg_of_sums(
          sums.get(_NDCG + name, np.zeros(2))) for name in names}}


def evaluate(sets: Sequence[metrics.EvalSet], contexts: Sequence[dict],
             exposed: Sequence[data.ExposedList],
             score_fns: Mapping[str, ScoreFn], ks: Sequence[str],
             head_share: float) -> dict:
  """Hitrate@K per slice and NDCG@10 on exposed lists for each scorer, in memory.

  The fine ranker (its logged scores) and the yardsticks (scorers.py) are
  always evaluated too, on the same sets and lists.

  Args:
    sets: eval candidate sets.
    contexts: their request contexts.
    exposed: the eval lists' exposed items (data.read_exposed_lists).
    score_fns: scorer name -> score function, e.g. {scorers.MODEL: ...}.
    ks: hitrate cutoffs, e.g. "100" or "5%" (cutoffs.parse).
    head_share: share of most-exposed candidate items that are 'head'.

  Returns:
    See summarize.
  """
  head = metrics.head_threshold(sets, head_share)
  return summarize(add(set_sums(sets, contexts, score_fns, ks, head),
                       list_sums(exposed, score_fns)),
                   scorer_names(score_fns), ks, head)
