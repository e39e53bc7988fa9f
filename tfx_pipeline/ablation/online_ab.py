"""The online A/B replay: arms of coarse stages on a world's fresh requests, paired differences against the legacy stage with bootstrap intervals, and the report.

    arms = online_ab.arms(world.config, sizes=online_ab.sizes("50,100,200",
                          world.config), with_model=True)
    outcomes = replay.replay(world, arms, 20_000, model_scorer=scorer)
    result = online_ab.summarize(outcomes, arms, world.config, seed=0)
    print(online_ab.markdown(result))
"""

import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import pyarrow as pa

from models import cutoffs
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import replay

# Arm A, the reference every other arm is paired with.
REFERENCE = replay.LEGACY
# The per-request outcomes compared between arms.
METRICS = ("exposures", "clicks", "purchases_in_scene",
           "purchases_out_of_scene", "gmv")
RESAMPLES = 1000
_CHUNK = 50  # Bootstrap resamples drawn at a time.


def sizes(spec: str, cfg: config_lib.WorldConfig) -> List[int]:
  """Coarse output sizes from "50,100,200" (items) or "5%,10%" (shares of
  the retrieved set), each once, ascending.

  Raises:
    ValueError: a size that is not a count or share, or outside
      [exposed_size, retrieval_size] of the world.
  """
  out = set()
  for text in (t for t in spec.split(",") if t.strip()):
    cutoff = cutoffs.parse(text)
    size = cutoff.k(cfg.retrieval_size)
    if not cfg.exposed_size <= size <= cfg.retrieval_size:
      raise ValueError(
          f"coarse output size {text.strip()} ({size} items) is outside "
          f"[{cfg.exposed_size}, {cfg.retrieval_size}]: the world shows "
          f"{cfg.exposed_size} items of {cfg.retrieval_size} retrieved")
    out.add(size)
  if not out:
    raise ValueError(f"no coarse output size in {spec!r}")
  return sorted(out)


def default_sizes(cfg: config_lib.WorldConfig) -> List[int]:
  """Half, once and twice the world's own coarse output size, in range."""
  return sorted({min(max(s, cfg.exposed_size), cfg.retrieval_size)
                 for s in (cfg.coarse_size // 2, cfg.coarse_size,
                           2 * cfg.coarse_size)})


def arms(cfg: config_lib.WorldConfig, sweep: Sequence[int],
         with_model: bool) -> List[replay.Arm]:
  """Arm A (the legacy stage), the model (B), the oracle and random bounds
  at the world's coarse output size, and the model at each size of
  `sweep` (named "model@K")."""
  k = cfg.coarse_size
  out = [replay.Arm(REFERENCE, replay.LEGACY, k)]
  if with_model:
    out.append(replay.Arm(replay.MODEL, replay.MODEL, k))
  out += [replay.Arm(replay.ORACLE, replay.ORACLE, k),
          replay.Arm(replay.RANDOM, replay.RANDOM, k)]
  if with_model:
    out += [replay.Arm(f"{replay.MODEL}@{s}", replay.MODEL, s)
            for s in sweep if s != k]
  return out


def _interval(values: np.ndarray) -> List[float]:
  return [float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975))]


def paired(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
           resamples: int = RESAMPLES) -> Dict[str, object]:
  """B against A on the same requests (`[n]` each).

  Returns:
    mean per request of each arm, the mean paired difference b - a and the
    relative lift sum(b) / sum(a) - 1 (NaN if sum(a) is 0), each with a
    percentile bootstrap 95% interval over requests (the same resampled
    requests for both arms).
  """
  n = a.shape[0]
  diffs, lifts = [], []
  for start in range(0, resamples, _CHUNK):
    index = rng.integers(0, n, size=(min(_CHUNK, resamples - start), n))
    sum_a, sum_b = a[index].sum(axis=1), b[index].sum(axis=1)
    diffs.append((sum_b - sum_a) / n)
    with np.errstate(divide="ignore", invalid="ignore"):
      lifts.append(np.where(sum_a > 0, sum_b / sum_a - 1.0, np.nan))
  diffs, lifts = np.concatenate(diffs), np.concatenate(lifts)
  total_a = float(a.sum())
  return dict(
      mean_a=float(a.mean()), mean_b=float(b.mean()),
      difference=float((b - a).mean()), difference_ci=_interval(diffs),
      lift=float(b.sum()) / total_a - 1.0 if total_a > 0 else math.nan,
      lift_ci=(_interval(lifts) if np.isfinite(lifts).all()
               else [math.nan, math.nan]))


def summarize(outcomes: Dict[str, Dict[str, np.ndarray]],
              arm_list: Sequence[replay.Arm], cfg: config_lib.WorldConfig,
              seed: int, resamples: int = RESAMPLES) -> dict:
  """The JSON-able result: per arm its totals, stage consistency and each
  metric paired with arm A (REFERENCE)."""
  rng = np.random.default_rng([seed, 11])
  reference = outcomes[REFERENCE]
  result = dict(world=dict(coarse_size=cfg.coarse_size,
                           retrieval_size=cfg.retrieval_size,
                           exposed_size=cfg.exposed_size),
                requests=int(reference["gmv"].shape[0]), seed=seed,
                resamples=resamples, arms=[])
  for arm in arm_list:
    out = outcomes[arm.name]
    purchases = out["purchases_in_scene"].sum() + out[
        "purchases_out_of_scene"].sum()
    result["arms"].append(dict(
        name=arm.name, stage=arm.stage, size=arm.size,
        totals={m: float(out[m].sum()) for m in METRICS},
        fine_top_kept=float(out["fine_top_kept"].mean()),
        purchases_dropped_share=(float(out["purchases_dropped"].sum()
                                       / purchases) if purchases else
                                 math.nan),
        against_a={m: paired(reference[m], out[m], rng, resamples)
                   for m in METRICS}))
  return result


def _signed(x: float, digits: int = 4) -> str:
  return "nan" if math.isnan(x) else f"{x:+.{digits}f}"


def _percent(x: float) -> str:
  return "nan" if math.isnan(x) else f"{100 * x:+.2f}%"


def markdown(result: dict, title: Optional[str] = None) -> str:
  """Two tables: per arm, totals and GMV lift; per arm, each metric's
  paired difference per request against A with its 95% interval."""
  w = result["world"]
  lines = [f"## {title}" if title else "## Online A/B replay", "",
           f"{result['requests']:,} replayed requests, seed "
           f"{result['seed']}; {w['retrieval_size']} retrieved, "
           f"{w['exposed_size']} shown; arm A is the legacy coarse stage at "
           f"{w['coarse_size']} items. Intervals: percentile bootstrap over "
           f"requests, {result['resamples']} resamples, 95%.", "",
           "| arm | coarse output | clicks | purchases in scene | purchases "
           "elsewhere | GMV | GMV lift vs A [95% interval] | fine top "
           f"{replay.FINE_TOP} kept | purchases of dropped items |",
           "|---|---|---|---|---|---|---|---|---|"]
  for arm in result["arms"]:
    t, gmv = arm["totals"], arm["against_a"]["gmv"]
    low, high = gmv["lift_ci"]
    lines.append(
        f"| {arm['name']} | {arm['size']} | {t['clicks']:,.0f} | "
        f"{t['purchases_in_scene']:,.0f} | {t['purchases_out_of_scene']:,.0f}"
        f" | {t['gmv']:,.0f} | {_percent(gmv['lift'])} [{_percent(low)}, "
        f"{_percent(high)}] | {arm['fine_top_kept']:.3f} | "
        f"{arm['purchases_dropped_share']:.3f} |")
  lines += ["", "Paired difference per request against A [95% interval]:",
            "", "| arm | " + " | ".join(METRICS[1:]) + " |",
            "|---|" + "---|" * (len(METRICS) - 1)]
  for arm in result["arms"][1:]:
    cells = []
    for metric in METRICS[1:]:
      p = arm["against_a"][metric]
      low, high = p["difference_ci"]
      cells.append(f"{_signed(p['difference'])} [{_signed(low)}, "
                   f"{_signed(high)}]")
    lines.append(f"| {arm['name']} | " + " | ".join(cells) + " |")
  lines += ["", f"Fine top {replay.FINE_TOP} kept: of the fine ranker's top "
            f"{replay.FINE_TOP} over the whole retrieved set, the share the "
            "coarse stage passes on. Purchases of dropped items: of all "
            "purchases (in scene and elsewhere), the share of items the "
            "coarse stage did not pass on.", ""]
  return "\n".join(lines)


def plot(result: dict, path: str) -> Optional[str]:
  """GMV lift against A (with its interval) by the model's coarse output
  size; None when there is no model arm."""
  points = sorted((a["size"], a["against_a"]["gmv"]) for a in result["arms"]
                  if a["stage"] == replay.MODEL)
  if not points:
    return None
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top

  size = [p[0] for p in points]
  lift = [100 * p[1]["lift"] for p in points]
  low = [100 * (p[1]["lift"] - p[1]["lift_ci"][0]) for p in points]
  high = [100 * (p[1]["lift_ci"][1] - p[1]["lift"]) for p in points]
  figure, axes = pyplot.subplots(figsize=(5, 3.5))
  axes.errorbar(size, lift, yerr=[low, high], marker="o", capsize=3)
  axes.axhline(0.0, color="grey", linewidth=0.8)
  axes.axvline(result["world"]["coarse_size"], color="grey", linestyle=":",
               linewidth=0.8)
  axes.set_xlabel("coarse output size (items passed to the fine ranker)")
  axes.set_ylabel("GMV lift vs legacy stage (%)")
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  pyplot.close(figure)
  return path


def saved_model_scorer(model_dir: str, world, batch_size: int = 64
                       ) -> replay.ModelScorer:
  """Scores with the SavedModel's serving_default in process."""
  from components.validation import scoring  # pylint: disable=g-import-not-at-top

  scorer = scoring.SavedModelScorer(model_dir, batch_size=batch_size)
  profiles = replay.user_profiles(world)

  def score(requests: pa.Table, item_ids: np.ndarray) -> np.ndarray:
    return np.stack(scorer.score(replay.request_contexts(profiles, requests),
                                 item_ids.tolist()))
  return score


def grpc_scorer(target: str, model_name: str, world, batch_size: int = 64
                ) -> replay.ModelScorer:
  """Scores through a TF Serving (or the local) gRPC server's Predict."""
  from serving import client as client_lib  # pylint: disable=g-import-not-at-top

  client = client_lib.RankingClient(target, model_name, timeout=60.0)
  profiles = replay.user_profiles(world)

  def score(requests: pa.Table, item_ids: np.ndarray) -> np.ndarray:
    batch = [client_lib.RankRequest(**context, candidate_item_ids=list(items))
             for context, items in zip(
                 replay.request_contexts(profiles, requests), item_ids)]
    return np.stack([ranking.scores
                     for start in range(0, len(batch), batch_size)
                     for ranking in client.rank_batch(
                         batch[start:start + batch_size])])
  return score
