"""The fitted fine ranker: pCTR x pCVR logistic regressions fitted on a burn-in period's logs.

A production fine ranker is a model fitted on its own search logs, so it knows
only what the logs show: the query text, the catalog's attributes, the user's
profile and past purchases, and what each item did when it was shown. Every
function here takes logged tables (raw-log contract columns) or arrays derived
from them; none sees the hidden utility, the user and item vectors or the
popularity weights. Its errors on rarely shown items therefore come from where
real ones come from: it is fitted only on the items the previous ranker chose
to show (sample-selection bias), and an item shown rarely has thin statistics.

Model: two L2-regularised logistic regressions over `FEATURES`, fitted by
Newton's method (IRLS) on every exposed burn-in row: click given exposure
(pCTR) and purchase given exposure (pCTCVR, fitted over the exposure space
rather than on clicked rows only, as ESMM does, since a conversion model
fitted on clicks alone carries the clicks' selection bias). Both take
log(1 + position) as an extra training-only input that is set to position 0
when ranking, the usual way to keep position bias out of the model. The fine
score is log(pCTR + pCTCVR), the log of the expected gain (click 1, purchase
2) of the item shown on top.

Item statistics (exposures, clicks over expected clicks at the positions
shown, purchases) are the burn-in's. A training
row must not see its own label through them, so they are cross-fitted: the
burn-in is cut in two halves by time, and rows of each half get the other
half's statistics, scaled to the whole burn-in's length (out-of-fold target
statistics). Ranking uses the statistics of the whole burn-in.
"""

import dataclasses
from typing import Dict, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.raw_logs import contract as c

FEATURES = (
    "category_match",  # the item's category is named in the query.
    "brand_match",  # the item's brand is named in the query.
    "other_brand",  # the query names a brand, not the item's.
    "log_exposures",  # log(1 + burn-in exposures of the item).
    # log of its smoothed clicks over expected clicks (COEC): its CTR with
    # the position bias divided out.
    "log_coec",
    "cvr_logit",  # logit of its smoothed purchase-per-click rate.
    "log_price",
    "log_price_squared",
    # Purchase power (centred on the middle bucket) times log price: with the
    # two price terms, a price preference that moves with purchase power.
    "power_x_log_price",
    # |log price - mean log price of the user's past purchases|, 0 without a
    # history.
    "history_price_gap",
)
# Smoothed rates shrink to the global rate with the weight of this many
# expected clicks (COEC) or clicks (CVR).
COEC_PRIOR_CLICKS = 2.0
CVR_PRIOR_CLICKS = 5.0
# Purchase power of users missing from the optional users table.
DEFAULT_PURCHASE_POWER = 3
L2 = 1.0
_NEWTON_STEPS = 50

# Item exposure buckets of the agreement report: (name, min, max) exposures
# in the burn-in, inclusive.
EXPOSURE_BUCKETS = (("never", 0, 0), ("rare", 1, 9), ("often", 10, np.inf))


def _index_in(values, keys) -> np.ndarray:
  """Position of each value in `keys`, -1 where absent."""
  if isinstance(keys, pa.ChunkedArray):
    keys = keys.combine_chunks()
  found = pc.index_in(values, value_set=keys)
  return np.asarray(pc.fill_null(found, -1), dtype=np.int64)


def _column(table: pa.Table, name: str) -> np.ndarray:
  return table[name].to_numpy()


@dataclasses.dataclass(frozen=True)
class ObservedItems:
  """The `items` table as arrays, indexed by row of that table."""
  item_id: pa.Array
  category: np.ndarray  # int32 index into category_vocab.
  brand: np.ndarray  # int32 index into brand_vocab.
  log_price: np.ndarray  # float64.
  category_vocab: Dict[str, int]
  brand_vocab: Dict[str, int]


def observed_items(items: pa.Table) -> ObservedItems:
  encoded = {}
  for name in (c.CATEGORY, c.BRAND):
    column = items[name].combine_chunks().dictionary_encode()
    vocab = {v: i for i, v in enumerate(column.dictionary.to_pylist())}
    encoded[name] = (column.indices.to_numpy().astype(np.int32), vocab)
  return ObservedItems(
      item_id=items[c.ITEM_ID].combine_chunks(),
      category=encoded[c.CATEGORY][0], brand=encoded[c.BRAND][0],
      log_price=np.log(np.maximum(_column(items, c.PRICE), 1e-6)),
      category_vocab=encoded[c.CATEGORY][1], brand_vocab=encoded[c.BRAND][1])


@dataclasses.dataclass(frozen=True)
class ItemStats:
  """Per-item counts over exposed impressions, indexed by items-table row."""
  exposures: np.ndarray  # float64.
  clicks: np.ndarray
  # Clicks an average item would have had at the positions it was shown.
  expected_clicks: np.ndarray
  purchases: np.ndarray

  @property
  def global_cvr(self) -> float:
    return (self.purchases.sum() + 1.0) / (self.clicks.sum() + 2.0)

  def scaled(self, factor: float) -> "ItemStats":
    return ItemStats(*(x * factor for x in dataclasses.astuple(self)))


def item_stats(item: np.ndarray, position: np.ndarray, clicked: np.ndarray,
               purchased: np.ndarray, num_items: int) -> ItemStats:
  """Counts over exposed rows: `item` (items-table rows), position, labels."""
  shown = np.bincount(position, minlength=1).astype(np.float64)
  ctr_at = np.bincount(position, weights=clicked, minlength=1) / np.maximum(
      shown, 1.0)

  def count(weights):
    return np.bincount(item, weights=weights, minlength=num_items
                       ).astype(np.float64)
  return ItemStats(count(None), count(clicked), count(ctr_at[position]),
                   count(purchased))


@dataclasses.dataclass(frozen=True)
class RequestContext:
  """What the ranker knows of each request, indexed by requests-table row."""
  query_category: np.ndarray  # int32 category named in the query, -1 none.
  query_brand: np.ndarray  # int32 brand named in the query, -1 none.
  purchase_power: np.ndarray  # float64, DEFAULT_PURCHASE_POWER if unknown.
  price_level: np.ndarray  # float64 mean log price of history, NaN if none.


def request_context(requests: pa.Table, users: Optional[pa.Table],
                    items: ObservedItems) -> RequestContext:
  """Parses queries against the catalog's vocabularies; joins the profile and
  the user's history (pre-period purchases) to the catalog's prices."""
  queries = requests[c.QUERY].combine_chunks().dictionary_encode()
  texts = queries.dictionary.to_pylist()
  named_category = np.full(len(texts), -1, dtype=np.int32)
  named_brand = np.full(len(texts), -1, dtype=np.int32)
  for j, text in enumerate(texts):
    for token in text.split():
      named_category[j] = items.category_vocab.get(token, named_category[j])
      named_brand[j] = items.brand_vocab.get(token, named_brand[j])
  which = queries.indices.to_numpy()

  n = requests.num_rows
  power = np.full(n, float(DEFAULT_PURCHASE_POWER))
  if users is not None:
    row = _index_in(requests[c.USER_ID], users[c.USER_ID])
    power[row >= 0] = _column(users, c.PURCHASE_POWER)[row[row >= 0]]

  history = requests[c.USER_HISTORY]
  lengths = np.asarray(pc.fill_null(pc.list_value_length(history), 0))
  owner = np.repeat(np.arange(n), lengths)
  bought = _index_in(pc.list_flatten(history), items.item_id)
  known = bought >= 0
  total = np.bincount(owner[known], weights=items.log_price[bought[known]],
                      minlength=n)
  count = np.bincount(owner[known], minlength=n)
  with np.errstate(invalid="ignore", divide="ignore"):
    level = np.where(count > 0, total / count, np.nan)
  return RequestContext(query_category=named_category[which],
                        query_brand=named_brand[which],
                        purchase_power=power, price_level=level)


def _logit(p):
  return np.log(p) - np.log1p(-p)


def features(ctx: RequestContext, rows: np.ndarray, item: np.ndarray,
             items: ObservedItems, stats: ItemStats) -> np.ndarray:
  """`FEATURES` of (request row, item row) pairs: shapes broadcast, [..., F]."""
  query_category = ctx.query_category[rows]
  query_brand = ctx.query_brand[rows]
  brand_match = (items.brand[item] == query_brand) & (query_brand >= 0)
  clicks = stats.clicks[item]
  coec = ((clicks + COEC_PRIOR_CLICKS)
          / (stats.expected_clicks[item] + COEC_PRIOR_CLICKS))
  cvr = ((stats.purchases[item] + CVR_PRIOR_CLICKS * stats.global_cvr)
         / (clicks + CVR_PRIOR_CLICKS))
  log_price = items.log_price[item]
  level = ctx.price_level[rows]
  gap = np.where(np.isnan(level), 0.0, np.abs(log_price - level))
  columns = (
      (items.category[item] == query_category) & (query_category >= 0),
      brand_match,
      (query_brand >= 0) & ~brand_match,
      np.log1p(stats.exposures[item]), np.log(coec), _logit(cvr),
      log_price, log_price ** 2,
      (ctx.purchase_power[rows] - DEFAULT_PURCHASE_POWER) * log_price,
      gap,
  )
  return np.stack(np.broadcast_arrays(*columns), axis=-1).astype(np.float64)


def _fit_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Weights [1 + F] (intercept first) of an L2 logistic regression (IRLS)."""
  x1 = np.hstack([np.ones((x.shape[0], 1)), x])
  w = np.zeros(x1.shape[1])
  penalty = np.full(x1.shape[1], L2)
  penalty[0] = 1e-6
  for _ in range(_NEWTON_STEPS):
    p = 1.0 / (1.0 + np.exp(-(x1 @ w)))
    grad = x1.T @ (p - y) + penalty * w
    hess = (x1.T * (p * (1.0 - p))) @ x1 + np.diag(penalty)
    step = np.linalg.solve(hess, grad)
    w -= step
    if np.abs(step).max() < 1e-8:
      break
  return w


def _sigmoid(z):
  return 1.0 / (1.0 + np.exp(-z))


@dataclasses.dataclass(frozen=True)
class FittedFineRanker:
  """The fitted model and the burn-in statistics it ranks with.

  Attributes:
    items: the catalog it was fitted with; items are its rows.
    stats: item statistics of the whole burn-in.
    mean, scale: standardisation of `FEATURES` over the training rows.
    click_weights, purchase_weights: intercept, FEATURES, log(1 + position)
      of pCTR and pCTCVR.
    fitted_rows: rows of the burn-in impressions table it was fitted on.
  """
  items: ObservedItems
  stats: ItemStats
  mean: np.ndarray
  scale: np.ndarray
  click_weights: np.ndarray
  purchase_weights: np.ndarray
  fitted_rows: np.ndarray

  def feature_matrix(self, ctx: RequestContext, rows: np.ndarray,
                     item: np.ndarray) -> np.ndarray:
    return features(ctx, rows, item, self.items, self.stats)

  def score(self, ctx: RequestContext, rows: np.ndarray,
            item: np.ndarray) -> np.ndarray:
    """log(pCTR + pCTCVR) at position 0 of (request row, item row) pairs."""
    z = (self.feature_matrix(ctx, rows, item) - self.mean) / self.scale
    click = self.click_weights[0] + z @ self.click_weights[1:-1]
    buy = self.purchase_weights[0] + z @ self.purchase_weights[1:-1]
    return np.log(_sigmoid(click) + _sigmoid(buy))


def fit_fine_ranker(items: pa.Table, users: Optional[pa.Table],
                    requests: pa.Table,
                    impressions: pa.Table) -> FittedFineRanker:
  """Fits on the exposed rows of burn-in logs (raw-log contract tables)."""
  observed = observed_items(items)
  ctx = request_context(requests, users, observed)
  row = _index_in(impressions[c.REQUEST_ID], requests[c.REQUEST_ID])
  item = _index_in(impressions[c.ITEM_ID], observed.item_id)
  fitted = np.flatnonzero(_column(impressions, c.EXPOSED)
                          & (row >= 0) & (item >= 0))
  row, item = row[fitted], item[fitted]
  clicked = _column(impressions, c.CLICKED)[fitted]
  purchased = _column(impressions, c.PURCHASED)[fitted]
  position = _column(impressions, c.POSITION)[fitted]

  # Two time folds of the requests: the older half and the newer half.
  n = requests.num_rows
  fold_of_request = np.zeros(n, dtype=np.int64)
  fold_of_request[np.argsort(_column(requests, c.TS), kind="stable")
                  [n // 2:]] = 1
  fold = fold_of_request[row]
  x = np.empty((fitted.size, len(FEATURES)))
  for f in (0, 1):
    other = fold != f
    other_stats = item_stats(item[other], position[other], clicked[other],
                             purchased[other], observed.log_price.size)
    share = np.count_nonzero(fold_of_request != f) / max(n, 1)
    mine = ~other
    x[mine] = features(ctx, row[mine], item[mine], observed,
                       other_stats.scaled(1.0 / max(share, 1e-12)))
  mean = x.mean(axis=0)
  scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
  z = (x - mean) / scale
  z = np.hstack([z, np.log1p(position)[:, None]])
  click_weights = _fit_logistic(z, clicked.astype(np.float64))
  purchase_weights = _fit_logistic(z, purchased.astype(np.float64))
  return FittedFineRanker(
      items=observed,
      stats=item_stats(item, position, clicked, purchased,
                       observed.log_price.size),
      mean=mean, scale=scale, click_weights=click_weights,
      purchase_weights=purchase_weights, fitted_rows=fitted)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
  ra = np.argsort(np.argsort(a)).astype(np.float64)
  rb = np.argsort(np.argsort(b)).astype(np.float64)
  return float(np.corrcoef(ra, rb)[0, 1])


def agreement_by_exposure(request: np.ndarray, score: np.ndarray,
                          utility: np.ndarray, exposures: np.ndarray,
                          min_candidates: int = 5) -> dict:
  """Mean within-request Spearman correlation of score and hidden utility.

  Args:
    request, score, utility: one entry per (request, candidate) pair.
    exposures: the candidate item's burn-in exposures, per pair.
    min_candidates: requests with fewer candidates in a bucket are left out
      of that bucket.

  Returns:
    bucket ("all" and each of EXPOSURE_BUCKETS) -> {"spearman": mean over
    requests, "requests": how many, "candidates": pairs in the bucket}.
  """
  order = np.argsort(request, kind="stable")
  request, score, utility, exposures = (
      request[order], score[order], utility[order], exposures[order])
  starts = np.flatnonzero(np.diff(request, prepend=request[:1] - 1))
  ends = np.append(starts[1:], request.size)
  buckets = (("all", 0, np.inf),) + EXPOSURE_BUCKETS
  report = {}
  for name, low, high in buckets:
    member = (exposures >= low) & (exposures <= high)
    rhos = []
    for s, e in zip(starts, ends):
      m = member[s:e]
      if m.sum() >= min_candidates:
        rho = _spearman(score[s:e][m], utility[s:e][m])
        if np.isfinite(rho):
          rhos.append(rho)
    report[name] = {
        "spearman": round(float(np.mean(rhos)), 4) if rhos else None,
        "requests": len(rhos), "candidates": int(member.sum())}
  return report
