"""Builds one request's listwise training list and its evaluation candidate set."""

import dataclasses
import math
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
# item_id -> transactions in every scene over the train period.
ItemSales = Mapping[str, int]


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
  candidate_negatives: int = 0

  def counts(self) -> Dict[str, int]:
    """The reconciliation report's "lists" counts of these statistics."""
    return {"merged_duplicate_impressions": self.merged_impressions,
            "truncated_items": self.truncated_items,
            "shared_position_items": self.shared_positions,
            "candidate_negatives": self.candidate_negatives}


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


def request_sales(req: RequestData) -> Dict[str, int]:
  """What a request adds to its items' sales: its in-search purchases and
  the out-of-scene purchases attributed to it, once per item."""
  merged, _ = merge_impressions(req.impressions)
  bought = {item for item, imp in merged.items() if imp.purchased}
  return {item: 1 for item in bought | set(req.attributed)}


def _stats_features(items: Sequence[str], stats: ItemStats,
                    own: Mapping[str, Tuple[int, int, int]],
                    sales: ItemSales, own_sales: Mapping[str, int], pad: int
                    ) -> Dict[str, List[float]]:
  """ITEM_STATS values of `items`, less `own` and `own_sales` (the list's
  own request). Sales never fall below 0: a purchase whose transaction came
  after the train period is not among them."""
  rows = [[s - o for s, o in zip(stats.get(item, _NO_STATS),
                                 own.get(item, _NO_STATS))]
          + [max(0, sales.get(item, 0) - own_sales.get(item, 0))]
          for item in items]
  return {key: [float(row[k]) for row in rows] + [f.PAD_FLOAT] * pad
          for k, key in enumerate(f.ITEM_STATS)}


def context_features(req: RequestData, params: params_lib.ListwiseParams,
                     in_train_counts: bool = False) -> dict:
  history = list(req.history)[:params.history_length]
  history += [f.PAD_STRING] * (params.history_length - len(history))
  return {
      f.REQUEST_ID: [req.request_id], f.USER_ID: [req.user_id],
      f.QUERY: [req.query], f.TS: [int(req.ts)], f.USER_HISTORY: history,
      f.AGE_BUCKET: [int(req.age_bucket)], f.GENDER: [req.gender],
      f.PURCHASE_POWER: [int(req.purchase_power)],
      f.IN_TRAIN_COUNTS: [int(in_train_counts)],
  }


def _item_features(out: dict, items: Sequence[str], catalog: Catalog,
                   pad: int) -> None:
  """Adds the items' category, brand and price, padded by `pad`."""
  item_features = [catalog.get(item, _UNKNOWN_ITEM) for item in items]
  out[f.CATEGORY] = [x[0] for x in item_features] + [f.PAD_STRING] * pad
  out[f.BRAND] = [x[1] for x in item_features] + [f.PAD_STRING] * pad
  out[f.PRICE] = [float(x[2]) for x in item_features] + [f.PAD_FLOAT] * pad


def build_list(req: RequestData, catalog: Catalog,
               sampler: sampling.NegativeSampler,
               params: params_lib.ListwiseParams,
               item_stats: ItemStats, in_train: bool,
               item_sales: ItemSales = None) -> Tuple[dict, ListStats]:
  """The training list of a request, padded to `params.list_size`.

  Entries, in priority order: exposed items by position (then item id);
  attributed out-of-scene purchases not exposed; up to M unexposed
  impressions; then negatives: where the request has a logged candidate
  set (and `num_candidate_negatives` > 0), up to that many of its
  candidates that reached neither the fine ranker nor a purchase, drawn
  uniformly (what the coarse stage ranks at serving time), else R random
  catalog negatives. Sampled
  negatives carry the log of their probability in one draw, for the logQ
  correction (1 / the candidates left to draw from, or the catalog
  sampler's). Labels obey purchase => click => exposure. Each entry carries
  its item's train statistics; the list of a train request leaves the
  request's own impressions and purchases out of them (`in_train`), so no
  label is a feature of itself, and says so (`in_train_counts`) for the
  counts the model reads.

  Returns:
    (feature name -> list of values, stats). List features have
    `[list_size]` values.
  """
  rng = sampling.request_rng(params.seed, req.request_id)
  merged, merged_rows = merge_impressions(req.impressions)
  attributed = sorted(set(req.attributed))
  attributed_set = set(attributed)
  # (item_id, sample_type, clicked, purchased, exposed, fine_score or None,
  #  log sampling probability)
  entries: List[tuple] = []
  exposed = sorted((i for i in merged.values() if i.exposed),
                   key=lambda i: (i.position, i.item_id))
  for imp in exposed:
    entries.append((imp.item_id, f.SAMPLE_EXPOSED, imp.clicked,
                    imp.purchased or imp.item_id in attributed_set, True,
                    imp.fine_score, f.PAD_FLOAT))
  shown = {imp.item_id for imp in exposed}
  for item in attributed:
    if item not in shown:
      imp = merged.get(item)
      entries.append((item, f.SAMPLE_OUT_OF_SCENE, True, True, True,
                      imp.fine_score if imp else None, f.PAD_FLOAT))
  pool = sorted(item for item, imp in merged.items()
                if not imp.exposed and item not in attributed_set)
  picks = rng.choice(len(pool), size=min(params.num_unexposed, len(pool)),
                     replace=False) if pool else []
  for k in picks:
    imp = merged[pool[k]]
    entries.append((imp.item_id, f.SAMPLE_UNEXPOSED, imp.clicked,
                    imp.purchased, False, imp.fine_score, f.PAD_FLOAT))
  candidates = 0
  if req.logged_candidates and params.num_candidate_negatives:
    taken = set(merged) | attributed_set
    pool = sorted({item for item, _ in req.logged_candidates} - taken)
    drawn = rng.choice(len(pool), size=min(params.num_candidate_negatives,
                                           len(pool)),
                       replace=False) if pool else []
    log_q = -math.log(len(pool)) if pool else f.PAD_FLOAT
    for k in drawn:
      entries.append((pool[k], f.SAMPLE_CANDIDATE, False, False, False, None,
                      log_q))
    candidates = len(drawn)
  else:
    for item in sampler.sample(rng, params.num_random,
                               exclude=set(merged) | attributed_set):
      entries.append((item, f.SAMPLE_RANDOM, False, False, False, None,
                      sampler.log_probability(item)))

  stats = ListStats(merged_impressions=merged_rows,
                    truncated_items=max(0, len(entries) - params.list_size),
                    shared_positions=len(exposed) - len(
                        {imp.position for imp in exposed}),
                    candidate_negatives=candidates)
  entries = entries[:params.list_size]
  pad = params.list_size - len(entries)
  out = context_features(req, params, in_train_counts=in_train)
  out[f.ITEM_ID] = [e[0] for e in entries] + [f.PAD_STRING] * pad
  _item_features(out, [e[0] for e in entries], catalog, pad)
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
  out[f.SAMPLING_LOG_Q] = [e[6] for e in entries] + [f.PAD_FLOAT] * pad
  out[f.SAMPLE_TYPE] = [e[1] for e in entries] + [f.SAMPLE_PAD] * pad
  out[f.MASK] = [1] * len(entries) + [f.PAD_INT] * pad
  out.update(_stats_features(
      [e[0] for e in entries], item_stats,
      request_item_stats(req) if in_train else {}, item_sales or {},
      request_sales(req) if in_train else {}, pad))
  return out, stats


# (kind, token, value) -> count, ("token", token) -> count: the query
# counts of the `counts` yardstick (request_query_counts).
QueryCounts = Mapping[tuple, int]
CATEGORY, BRAND, TOKEN = "category", "brand", "token"


def query_tokens(query: str) -> List[str]:
  """The distinct whitespace tokens of a query, in order of appearance."""
  return list(dict.fromkeys(query.split()))


def request_query_counts(req: RequestData, catalog: Catalog
                         ) -> Dict[tuple, int]:
  """What a train request adds to the query counts: for each distinct token
  of its query, its click-or-purchase impressions (merged, so once per item)
  per category and per brand of the item, and in all ((TOKEN, token))."""
  merged, _ = merge_impressions(req.impressions)
  positives = [catalog[item] for item, imp in merged.items()
               if (imp.clicked or imp.purchased) and item in catalog]
  out: Dict[tuple, int] = {}
  if not positives:
    return out
  for token in query_tokens(req.query):
    out[(TOKEN, token)] = len(positives)
    for category, brand, _ in positives:
      for key in ((CATEGORY, token, category), (BRAND, token, brand)):
        out[key] = out.get(key, 0) + 1
  return out


def query_log_share(counts: QueryCounts, kind: str, tokens: Sequence[str],
                    value: str, num_values: int) -> float:
  """mean over tokens t of log((n(t, value) + 1) / (n(t) + num_values)):
  the add-one smoothed share of `value` (a category or a brand) among the
  click-or-purchase impressions of train requests with token t; with no
  token, the uniform log(1 / num_values)."""
  if not tokens:
    return -math.log(num_values)
  return sum(math.log((counts.get((kind, t, value), 0) + 1)
                      / (counts.get((TOKEN, t), 0) + num_values))
             for t in tokens) / len(tokens)


def history_category_share(history: Sequence[str], catalog: Catalog,
                           category: str) -> float:
  """Share of the history's catalog items in `category` (0 without any)."""
  known = [catalog[item][0] for item in history if item in catalog]
  return known.count(category) / len(known) if known else 0.0


@dataclasses.dataclass(frozen=True)
class TrainCounts:
  """What the train split counts, for evaluation and validation sets.

  Attributes:
    item_stats: (exposures, clicks, in-search purchases) per item.
    item_sales: transactions in every scene over the train period, per item.
    query: the query counts (request_query_counts summed).
    num_categories, num_brands: distinct categories and brands of the
      catalog (at least 1), the smoothing's denominators.
  """
  item_stats: ItemStats
  item_sales: ItemSales
  query: QueryCounts
  num_categories: int
  num_brands: int

  @classmethod
  def of(cls, catalog: Catalog, item_stats: ItemStats,
         item_sales: ItemSales, query: QueryCounts) -> "TrainCounts":
    return cls(item_stats, item_sales, query,
               max(1, len({v[0] for v in catalog.values()})),
               max(1, len({v[1] for v in catalog.values()})))


def catalog_lists(catalog: Catalog, item_stats: ItemStats,
                  params: params_lib.ListwiseParams,
                  item_sales: ItemSales = None) -> Iterator[dict]:
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
    _item_features(out, chunk, catalog, pad)
    for key in (*f.LABELS, f.FINE_SCORE_MASK):
      out[key] = [f.PAD_INT] * params.list_size
    out[f.FINE_SCORE] = [f.PAD_FLOAT] * params.list_size
    out[f.SAMPLING_LOG_Q] = [f.PAD_FLOAT] * params.list_size
    out[f.SAMPLE_TYPE] = [f.SAMPLE_CATALOG] * len(chunk) + [f.SAMPLE_PAD] * pad
    out[f.MASK] = [1] * len(chunk) + [f.PAD_INT] * pad
    out.update(_stats_features(chunk, item_stats, {}, item_sales or {}, {},
                               pad))
    yield out


def candidate_set(req: RequestData, uniform: sampling.NegativeSampler,
                  params: params_lib.ListwiseParams
                  ) -> Dict[str, Optional[float]]:
  """The request's candidate set: item -> fine score (None if it has none).

  The request's `candidates` rows when it has any, each item once with its
  first score; otherwise its impressions plus `num_eval_random` catalog
  items drawn uniformly (seeded per request), the documented stand-in.
  """
  scores: Dict[str, Optional[float]] = {}
  if req.logged_candidates:
    for item, score in req.logged_candidates:
      scores.setdefault(item, score)
    return scores
  merged, _ = merge_impressions(req.impressions)
  for item in sorted(merged):
    scores[item] = merged[item].fine_score
  rng = sampling.request_rng(params.seed, req.request_id, stream="eval")
  for item in uniform.sample(rng, params.num_eval_random,
                             exclude=set(merged)):
    scores[item] = None
  return scores


def _purchases(req: RequestData) -> Tuple[set, set]:
  """(items bought in the search, items bought elsewhere, attributed)."""
  merged, _ = merge_impressions(req.impressions)
  return ({i for i, imp in merged.items() if imp.purchased},
          set(req.attributed))


def build_eval_candidates(req: RequestData,
                          uniform: sampling.NegativeSampler,
                          counts: TrainCounts, catalog: Catalog,
                          params: params_lib.ListwiseParams) -> dict:
  """The evaluation candidate set of an eval request (`candidate_set`).

  Purchases are in-scene (impressions) or attributed out-of-scene; those
  outside the set are counted in `purchases_outside_candidates` since no
  ranking of the set can hit them. Each candidate carries what the
  validator's yardsticks read: its train exposures and sales, its query
  category and brand log shares (`query_log_share`) and the share of the
  user's history in its category.

  Returns:
    feature name -> list of values; candidate features have
    `[num_candidates]` values.
  """
  merged, _ = merge_impressions(req.impressions)
  bought_in, bought_out = _purchases(req)
  scores = candidate_set(req, uniform, params)
  items = list(scores)
  tokens = query_tokens(req.query)
  attributes = [catalog.get(i, _UNKNOWN_ITEM) for i in items]
  out = context_features(req, params)
  out[f.CAND_ITEM_ID] = items
  out[f.CAND_FINE_SCORE] = [f.PAD_FLOAT if scores[i] is None
                            else float(scores[i]) for i in items]
  out[f.CAND_FINE_SCORE_MASK] = [int(scores[i] is not None) for i in items]
  out[f.CAND_EXPOSED] = [int(i in merged and merged[i].exposed)
                         for i in items]
  out[f.CAND_PURCHASE_IN_SCENE] = [int(i in bought_in) for i in items]
  out[f.CAND_PURCHASE_OUT_OF_SCENE] = [int(i in bought_out) for i in items]
  out[f.CAND_TRAIN_EXPOSURES] = [
      int(counts.item_stats.get(i, _NO_STATS)[0]) for i in items]
  out[f.CAND_TRAIN_SALES] = [int(counts.item_sales.get(i, 0)) for i in items]
  out[f.CAND_QUERY_CATEGORY_LOG_SHARE] = [
      query_log_share(counts.query, CATEGORY, tokens, a[0],
                      counts.num_categories) for a in attributes]
  out[f.CAND_QUERY_BRAND_LOG_SHARE] = [
      query_log_share(counts.query, BRAND, tokens, a[1], counts.num_brands)
      for a in attributes]
  out[f.CAND_HISTORY_CATEGORY_SHARE] = [
      history_category_share(req.history, catalog, a[0]) for a in attributes]
  out[f.CANDIDATES_LOGGED] = [int(bool(req.logged_candidates))]
  out[f.PURCHASES_OUTSIDE_CANDIDATES] = [
      len((bought_in | bought_out) - set(items))]
  return out


def valid_candidate_lists(req: RequestData,
                          uniform: sampling.NegativeSampler,
                          counts: TrainCounts, catalog: Catalog,
                          params: params_lib.ListwiseParams
                          ) -> Iterator[dict]:
  """A validation request's candidate set (`candidate_set`) as training-
  schema examples of `list_size` entries, for the Trainer to choose its
  checkpoint by hitrate on what it will rank.

  Every example holds the request's context and a chunk of the set in
  candidate order (`sample_type` SAMPLE_CANDIDATE); a purchase, in search or
  attributed, is labelled purchase, click and exposure. Items carry their
  full train statistics, as at serving.
  """
  merged, _ = merge_impressions(req.impressions)
  bought = set().union(*_purchases(req))
  scores = candidate_set(req, uniform, params)
  items = list(scores)
  for start in range(0, len(items), params.list_size):
    chunk = items[start:start + params.list_size]
    pad = params.list_size - len(chunk)
    out = context_features(req, params)
    out[f.ITEM_ID] = chunk + [f.PAD_STRING] * pad
    _item_features(out, chunk, catalog, pad)
    purchase = [int(i in bought) for i in chunk]
    exposure = [int(p or (i in merged and merged[i].exposed))
                for i, p in zip(chunk, purchase)]
    out[f.LABEL_PURCHASE] = purchase + [f.PAD_INT] * pad
    out[f.LABEL_CLICK] = purchase + [f.PAD_INT] * pad
    out[f.LABEL_EXPOSURE] = exposure + [f.PAD_INT] * pad
    out[f.FINE_SCORE] = [f.PAD_FLOAT if scores[i] is None else
                         float(scores[i]) for i in chunk] + [f.PAD_FLOAT] * pad
    out[f.FINE_SCORE_MASK] = [int(scores[i] is not None)
                              for i in chunk] + [f.PAD_INT] * pad
    out[f.SAMPLING_LOG_Q] = [f.PAD_FLOAT] * params.list_size
    out[f.SAMPLE_TYPE] = [f.SAMPLE_CANDIDATE] * len(chunk) + [
        f.SAMPLE_PAD] * pad
    out[f.MASK] = [1] * len(chunk) + [f.PAD_INT] * pad
    out.update(_stats_features(chunk, counts.item_stats, {},
                               counts.item_sales, {}, pad))
    yield out
