"""Evaluates scorers (the candidate model, the fine ranker, popularity, the last blessed model) on the same eval sets."""

from typing import Dict, Mapping, Sequence

import numpy as np

from components.validation import metrics
from components.validation import scorers

NDCG_K = 10
ScoreFn = scorers.ScoreFn


def evaluate(sets: Sequence[metrics.EvalSet], contexts: Sequence[dict],
             exposed, score_fns: Mapping[str, ScoreFn], ks: Sequence[str],
             head_share: float) -> dict:
  """Hitrate@K per slice and NDCG@10 on exposed lists for each scorer.

  The fine ranker (its logged scores) and popularity (train exposures) are
  always evaluated too, on the same sets and lists.

  Args:
    sets: eval candidate sets.
    contexts: their request contexts.
    exposed: (contexts, item ids, gains, fine scores) of the eval lists'
      exposed items, from data.read_exposed_lists.
    score_fns: scorer name -> score function, e.g. {scorers.MODEL: ...}.
    ks: hitrate cutoffs, e.g. "100" or "5%" (cutoffs.parse).
    head_share: share of most-exposed candidate items that are 'head'.

  Returns:
    {"ks", "head_min_exposures", "requests", "purchases", "counts": {
    "purchases_in_scene", "purchases_out_of_scene", "mean_candidates",
    "exposed_lists"}, "hitrate": {scorer: {slice: {cutoff: value}}},
    "ndcg@10": {scorer: value}}.
  """
  head = metrics.head_threshold(sets, head_share)
  candidates = [list(s.item_ids) for s in sets]
  exposed_contexts, exposed_items, gains, exposed_fine = exposed
  hitrate: Dict[str, dict] = {
      scorers.FINE_RANKER: metrics.hitrate(
          sets, [s.fine_score for s in sets], ks, head)}
  ndcg = {scorers.FINE_RANKER: metrics.ndcg_at_k(gains, exposed_fine, NDCG_K)}
  score_fns = {scorers.POPULARITY: scorers.popularity(
      metrics.exposure_lookup(sets)), **score_fns}
  for name, score in score_fns.items():
    hitrate[name] = metrics.hitrate(sets, score(contexts, candidates), ks,
                                    head)
    ndcg[name] = metrics.ndcg_at_k(
        gains, score(exposed_contexts, [list(i) for i in exposed_items]),
        NDCG_K)
  purchases = sum(int((s.in_scene | s.out_of_scene).sum()) for s in sets)
  counts = {
      "purchases_in_scene": sum(int(s.in_scene.sum()) for s in sets),
      "purchases_out_of_scene": sum(int(s.out_of_scene.sum()) for s in sets),
      "mean_candidates": float(np.mean([len(s.item_ids) for s in sets]))
                         if sets else 0.0,
      "exposed_lists": len(exposed_items),
  }
  return {"ks": list(ks), "head_min_exposures": head,
          "requests": len(sets), "purchases": purchases, "counts": counts,
          "hitrate": hitrate, f"ndcg@{NDCG_K}": ndcg}
