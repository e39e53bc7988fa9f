"""Per-seed metrics to mean and spread per scorer, and a verdict per finding, as plain functions."""

import dataclasses
import math
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

from components.validation import evaluate

# {scorer: {seed: {metric: value}}}
Results = Mapping[str, Mapping[int, Mapping[str, float]]]

HELD = "held"
REVERSED = "did not hold: reversed on every seed"
MIXED = "did not hold: no consistent difference across seeds"
MISSING = "not measured"


def _number(value) -> float:
  return math.nan if value is None else float(value)


def flatten(metrics: dict, scorer: str) -> Dict[str, float]:
  """One scorer's metrics as {"slice@K": v, "ndcg@10": v}.

  Args:
    metrics: a HitrateMetrics artifact's metrics.json (K as strings, None
      where a metric is undefined, which becomes NaN).
    scorer: e.g. scorers.MODEL or scorers.FINE_RANKER.
  """
  out = {f"{name}@{k}": _number(v)
         for name, row in metrics["hitrate"][scorer].items()
         for k, v in row.items()}
  key = f"ndcg@{evaluate.NDCG_K}"
  out[key] = _number(metrics[key][scorer])
  return out


@dataclasses.dataclass(frozen=True)
class Stats:
  """Mean, sample standard deviation (0 for one value), min and max."""
  mean: float
  std: float
  low: float
  high: float
  n: int


def stats(values: Sequence[float]) -> Stats:
  """Stats of the finite values; all NaN when there is none."""
  finite = np.array([v for v in values if not math.isnan(v)], dtype=float)
  if finite.size == 0:
    return Stats(math.nan, math.nan, math.nan, math.nan, 0)
  std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
  return Stats(float(finite.mean()), std, float(finite.min()),
               float(finite.max()), int(finite.size))


def aggregate(results: Results) -> Dict[str, Dict[str, Stats]]:
  """{scorer: {metric: Stats over seeds}}."""
  out = {}
  for scorer, by_seed in results.items():
    metrics = sorted({m for values in by_seed.values() for m in values})
    out[scorer] = {m: stats([by_seed[s].get(m, math.nan) for s in by_seed])
                   for m in metrics}
  return out


@dataclasses.dataclass(frozen=True)
class Verdict:
  """Paired per-seed differences `variant - against` and what they say."""
  outcome: str
  differences: Tuple[float, ...]
  mean_difference: float


def _value(results: Results, scorer: str, seed: int, metric: str) -> float:
  return results.get(scorer, {}).get(seed, {}).get(metric, math.nan)


def verdict(results: Results, variant: str, against: str,
            metric: str) -> Verdict:
  """Whether `variant` beats `against` on `metric`, seed by seed.

  Held only when the difference is positive on every seed both were
  measured on; reversed when negative on every seed; otherwise mixed.
  """
  seeds = sorted(set(results.get(variant, {})) | set(
      results.get(against, {})))
  diffs = tuple(d for d in (_value(results, variant, s, metric)
                            - _value(results, against, s, metric)
                            for s in seeds) if not math.isnan(d))
  if not diffs:
    return Verdict(MISSING, (), math.nan)
  mean = float(np.mean(diffs))
  if all(d > 0 for d in diffs):
    return Verdict(HELD, diffs, mean)
  if all(d < 0 for d in diffs):
    return Verdict(REVERSED, diffs, mean)
  return Verdict(MIXED, diffs, mean)
