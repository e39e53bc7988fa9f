"""Builds one request's listwise training list and its evaluation candidate set."""

import dataclasses
from typing import (Dict, Iterable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

from components.listwise import params as params_lib
from components.listwise import sampling
from models import features as f

# item_id -> (category, brand, price).
Catalog = Mapping[str, Tuple[str, str, float]]
_UNKNOWN_ITEM = (f.PAD_STRING, f.PAD_STRING, f.PAD_FLOAT)
# item_id -> (exposures, clicks, in-search purchases) over train requests.
ItemStats = Mapping[str, Tuple[int, int, int]]
_NO_STATS = (0, 0, 0)


@dataclasses.dataclass(frozen=True)
class Impression:
  item_id: str
  fine_score: float
  exposed: bool
  position: int
  clicked: bool
  purchased: bool


@dataclasses.dataclass
class RequestData:
  """Everything joined for one request.

  `logged_candidates` holds (item_id, fine_score or None) rows of the
  `candidates` table, empty when the request has none.
  """
  request_id: str
  user_id: str
  query: str
  ts: int
  history: Sequence[str]
  age_bucket: int = f.UNKNOWN_INT
  gender: str = f.PAD_STRING
  purchase_power: int = f.UNKNOWN_INT
  impressions: Sequence[Impression] = ()
  attributed: Sequence[str] = ()
  logged_candidates: Sequence[Tuple[str, Optional[float]]] = ()


@dataclasses.dataclass
class ListStats:
  """What building a list merged, coerced or dropped, for the report.

  shared_positions: exposed items at a position another exposed item of the
    list holds too, all but one per position. Both stay exposed, with their
    labels; ties are ordered by item id (position only orders the list).
  """
  merged_impressions: int = 0
  truncated_items: int = 0
  shared_positions: int = 0

  def counts(self) -> Dict[str, int]:
    """The reconciliation report's "lists" counts of these statistics."""
    return {"merged_duplicate_impressions": self.merged_impressions,
            "truncated_items": self.truncated_items,
            "shared_position_items": self.shared_positions}


def merge_impressions(impressions: Sequence[Impression]
                      ) -> Tuple[Dict[str, Impression], int]:
  """One impression per item: flags OR-ed, best position, highest score.

  Returns the merged impressions by item id and how many rows were merged
  into another.
  """
  merged: Dict[str, Impression] = {}
  for imp in impressions:
    old = merged.get(imp.item_id)
    if old is None:
      merged[imp.item_id] = imp
      continue
    positions = [p for p in (old.position, imp.position) if p >= 0]
    merged[imp.item_id] = Impression(
        imp.item_id, max(old.fine_score, imp.fine_score),
        old.exposed or imp.exposed, min(positions) if positions else -1,
        old.clicked or imp.clicked, old.purchased or imp.purchased)
  return merged, len(impressions) - len(merged)


def exposed_items(req: RequestData) -> List[str]:
  """Items exposed in a request, each once: what exposure counts count."""
  merged, _ = merge_impressions(req.impressions)
  return [item for item, imp in merged.items() if imp.exposed]


def request_item_stats(req: RequestData) -> Dict[str, Tuple[int, int, int]]:
  """What a request adds to its items' statistics: (exposed, clicked,
  purchased) per merged impression that was exposed, clicked or purchased."""
  merged, _ = merge_impressions(req.impressions)
  return {item: (int(imp.exposed), int(imp.clicked), int(imp.purchased))
          for item, imp in merged.items()
          if imp.exposed or imp.clicked or imp.purchased}


def sum_stats(values: Iterable[Tuple[int, int, int]]) -> Tuple[int, int, int]:
  """Element-wise sum of (exposures, clicks, purchases) tuples."""
  totals = [0, 0, 0]
  for value in values:
    for k in range(3):
      totals[k] += value[k]
  return tuple(totals)


def _stats_features(items: Sequence[str], stats: ItemStats,
                    own: Mapping[str, Tuple[int, int, int]], pad: int
                    ) -> Dict[str, List[float]]:
  """ITEM_STATS values of `items`, less `own` (the list's own request)."""
  rows = [[s - o for s, o in zip(stats.get(item, _NO_STATS),
                                 own.get(item, _NO_STATS))]
          for item in items]
  return {key: [float(row[k]) for row in rows] + [f.PAD_FLOAT] * pad
          for k, key in enumerate(f.ITEM_STATS)}


def context_features(req: RequestData,
                     params: params_lib.ListwiseParams) -> dict:
  history = list(req.history)[:params.history_length]
  history += [f.PAD_STRING] * (params.history_length - len(history))
  return {
      f.REQUEST_ID: [req.request_id], f.USER_ID: [req.user_id],
      f.QUERY: [req.query], f.TS: [int(req.ts)], f.USER_HISTORY: history,
      f.AGE_BUCKET: [int(req.age_bucket)], f.GENDER: [req.gender],
      f.PURCHASE_POWER: [int(req.purchase_power)],
  }


def build_list(req: RequestData, catalog: Catalog,
               sampler: sampling.NegativeSampler,
               params: params_lib.ListwiseParams,
               item_stats: ItemStats, in_train: bool
               ) -> Tuple[dict, ListStats]:
  """The training list of a request, padded to `params.list_size`.

  Entries, in priority order: exposed items by position (then item id);
  attributed out-of-scene purchases not exposed; up to M unexposed
  impressions; R random catalog negatives (with the log of their sampling
  probability, for the logQ correction). Labels obey purchase => click =>
  exposure. Each entry carries its item's train statistics; the list of a
  train request leaves the request's own impressions out of them
  (`in_train`), so no label is a feature of itself.

  Returns:
    (feature name -> list of values, stats). List features have
    `[list_size]` values.
  """
  rng = sampling.request_rng(params.seed, req.request_id)
  merged, merged_rows = merge_impressions(req.impressions)
  attributed = sorted(set(req.attributed))
  attributed_set = set(attributed)
  # (item_id, sample_type, clicked, purchased, exposed, fine_score or None)
  entries: List[tuple] = []
  exposed = sorted((i for i in merged.values() if i.exposed),
                   key=lambda i: (i.position, i.item_id))
  for imp in exposed:
    entries.append((imp.item_id, f.SAMPLE_EXPOSED, imp.clicked,
                    imp.purchased or imp.item_id in attributed_set, True,
                    imp.fine_score))
  shown = {imp.item_id for imp in exposed}
  for item in attributed:
    if item not in shown:
      imp = merged.get(item)
      entries.append((item, f.SAMPLE_OUT_OF_SCENE, True, True, True,
                      imp.fine_score if imp else None))
  pool = sorted(item for item, imp in merged.items()
                if not imp.exposed and item not in attributed_set)
  picks = rng.choice(len(pool), size=min(params.num_unexposed, len(pool)),
                     replace=False) if pool else []
  for k in picks:
    imp = merged[pool[k]]
    entries.append((imp.item_id, f.SAMPLE_UNEXPOSED, imp.clicked,
                    imp.purchased, False, imp.fine_score))
  for item in sampler.sample(rng, params.num_random,
                             exclude=set(merged) | attributed_set):
    entries.append((item, f.SAMPLE_RANDOM, False, False, False, None))

  stats = ListStats(merged_impressions=merged_rows,
                    truncated_items=max(0, len(entries) - params.list_size),
                    shared_positions=len(exposed) - len(
                        {imp.position for imp in exposed}))
  entries = entries[:params.list_size]
  pad = params.list_size - len(entries)
  out = context_features(req, params)
  out[f.ITEM_ID] = [e[0] for e in entries] + [f.PAD_STRING] * pad
  item_features = [catalog.get(e[0], _UNKNOWN_ITEM) for e in entries]
  out[f.CATEGORY] = [x[0] for x in item_features] + [f.PAD_STRING] * pad
  out[f.BRAND] = [x[1] for x in item_features] + [f.PAD_STRING] * pad
  out[f.PRICE] = [float(x[2]) for x in item_features] + [f.PAD_FLOAT] * pad
  purchase = [int(bool(e[3])) for e in entries]
  click = [int(bool(e[2]) or p) for e, p in zip(entries, purchase)]
  exposure = [int(bool(e[4]) or c) for e, c in zip(entries, click)]
  out[f.LABEL_PURCHASE] = purchase + [f.PAD_INT] * pad
  out[f.LABEL_CLICK] = click + [f.PAD_INT] * pad
  out[f.LABEL_EXPOSURE] = exposure + [f.PAD_INT] * pad
  out[f.FINE_SCORE] = [f.PAD_FLOAT if e[5] is None else float(e[5])
                       for e in entries] + [f.PAD_FLOAT] * pad
  out[f.FINE_SCORE_MASK] = [int(e[5] is not None)
                            for e in entries] + [f.PAD_INT] * pad
  out[f.SAMPLING_LOG_Q] = [
      sampler.log_probability(e[0]) if e[1] == f.SAMPLE_RANDOM
      else f.PAD_FLOAT for e in entries] + [f.PAD_FLOAT] * pad
  out[f.SAMPLE_TYPE] = [e[1] for e in entries] + [f.SAMPLE_PAD] * pad
  out[f.MASK] = [1] * len(entries) + [f.PAD_INT] * pad
  out.update(_stats_features([e[0] for e in entries], item_stats,
                             request_item_stats(req) if in_train else {},
                             pad))
  return out, stats


def catalog_lists(catalog: Catalog, item_stats: ItemStats,
                  params: params_lib.ListwiseParams) -> Iterator[dict]:
  """The catalog split: every catalog item once, `list_size` per example.

  Items are in id order, with their features and full train statistics;
  the context is empty and every label 0 (`sample_type` SAMPLE_CATALOG). The
  Trainer embeds them at export, so serving knows every catalog item.
  """
  empty = RequestData(f.PAD_STRING, f.PAD_STRING, f.PAD_STRING, 0, ())
  items = sorted(catalog)
  for start in range(0, len(items), params.list_size):
    chunk = items[start:start + params.list_size]
    pad = params.list_size - len(chunk)
    out = context_features(empty, params)
    out[f.ITEM_ID] = chunk + [f.PAD_STRING] * pad
    for k, key in enumerate((f.CATEGORY, f.BRAND)):
      out[key] = [catalog[i][k] for i in chunk] + [f.PAD_STRING] * pad
    out[f.PRICE] = [float(catalog[i][2]) for i in chunk] + [f.PAD_FLOAT] * pad
    for key in (*f.LABELS, f.FINE_SCORE_MASK):
      out[key] = [f.PAD_INT] * params.list_size
    out[f.FINE_SCORE] = [f.PAD_FLOAT] * params.list_size
    out[f.SAMPLING_LOG_Q] = [f.PAD_FLOAT] * params.list_size
    out[f.SAMPLE_TYPE] = [f.SAMPLE_CATALOG] * len(chunk) + [f.SAMPLE_PAD] * pad
    out[f.MASK] = [1] * len(chunk) + [f.PAD_INT] * pad
    out.update(_stats_features(chunk, item_stats, {}, pad))
    yield out


def build_eval_candidates(req: RequestData,
                          uniform: sampling.NegativeSampler,
                          item_stats: ItemStats,
                          params: params_lib.ListwiseParams) -> dict:
  """The evaluation candidate set of an eval request.

  The set is the request's `candidates` rows when it has any; otherwise its
  impressions plus `num_eval_random` catalog items drawn uniformly (seeded
  per request). Purchases are in-scene (impressions) or attributed
  out-of-scene; those outside the set are counted in
  `purchases_outside_candidates` since no ranking of the set can hit them.

  Returns:
    feature name -> list of values; candidate features have
    `[num_candidates]` values.
  """
  merged, _ = merge_impressions(req.impressions)
  bought_in = {i for i, imp in merged.items() if imp.purchased}
  bought_out = set(req.attributed)
  scores: Dict[str, Optional[float]] = {}
  if req.logged_candidates:
    for item, score in req.logged_candidates:
      scores.setdefault(item, score)
  else:
    for item in sorted(merged):
      scores[item] = merged[item].fine_score
    rng = sampling.request_rng(params.seed, req.request_id, stream="eval")
    for item in uniform.sample(rng, params.num_eval_random,
                               exclude=set(merged)):
      scores[item] = None
  items = list(scores)
  out = context_features(req, params)
  out[f.CAND_ITEM_ID] = items
  out[f.CAND_FINE_SCORE] = [f.PAD_FLOAT if scores[i] is None
                            else float(scores[i]) for i in items]
  out[f.CAND_FINE_SCORE_MASK] = [int(scores[i] is not None) for i in items]
  out[f.CAND_EXPOSED] = [int(i in merged and merged[i].exposed)
                         for i in items]
  out[f.CAND_PURCHASE_IN_SCENE] = [int(i in bought_in) for i in items]
  out[f.CAND_PURCHASE_OUT_OF_SCENE] = [int(i in bought_out) for i in items]
  out[f.CAND_TRAIN_EXPOSURES] = [int(item_stats.get(i, _NO_STATS)[0])
                                 for i in items]
  out[f.CANDIDATES_LOGGED] = [int(bool(req.logged_candidates))]
  out[f.PURCHASES_OUTSIDE_CANDIDATES] = [
      len((bought_in | bought_out) - set(items))]
  return out
