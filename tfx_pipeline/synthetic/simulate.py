"""One chunk of requests through retrieval, the legacy coarse stage, the fine ranker and users."""

import dataclasses
from typing import Callable, Optional

import numpy as np

from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import population

OTHER_SCENES = ("recommend", "cart", "live", "shop_page")
# Requests simulated together; bounds the [batch, num_items] retrieval array
# to _SUB_BATCH_CELLS entries (catalogs up to 20k items keep batches of 500).
_SUB_BATCH = 500
_SUB_BATCH_CELLS = 10_000_000

# Scores of the fitted fine ranker: (request indices [r], item indices [r, k])
# -> [r, k]; None means the parametric fine ranker.
FineScorer = Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]]


def sub_batch_size(num_items: int) -> int:
  return max(1, min(_SUB_BATCH, _SUB_BATCH_CELLS // num_items))


@dataclasses.dataclass
class ChunkLogs:
  """Index-level logs of a chunk of requests.

  Impression, candidate and transaction arrays are flat, one entry per row.
  `*_utility` and `transaction_source` are hidden truth, never written.
  """
  requests: np.ndarray  # int64 request indices of the chunk.
  imp_request: np.ndarray
  imp_item: np.ndarray
  imp_fine_score: np.ndarray
  imp_position: np.ndarray  # -1 where not exposed.
  imp_clicked: np.ndarray
  imp_purchased: np.ndarray
  imp_utility: np.ndarray
  cand_request: np.ndarray
  cand_item: np.ndarray
  cand_fine_score: np.ndarray
  cand_utility: np.ndarray
  tx_user: np.ndarray
  tx_item: np.ndarray
  tx_ts: np.ndarray
  tx_scene: np.ndarray  # index into ("search",) + OTHER_SCENES.
  transaction_source: np.ndarray  # request index, -1 for background noise.
  transaction_utility: np.ndarray  # U for the source request, NaN if none.


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
  """Column indices of the k largest entries of each row (unordered)."""
  if k == scores.shape[1]:
    return np.broadcast_to(np.arange(k), scores.shape).copy()
  return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def _history_matrix(users: population.Users, user: np.ndarray,
                    num_items: int) -> np.ndarray:
  """float32 `[len(user), num_items]`: 1 where the request's user bought
  the item before the period (its history)."""
  starts = users.history_offsets[user]
  lengths = users.history_offsets[user + 1] - starts
  rows = np.repeat(np.arange(user.shape[0]), lengths)
  items = users.history_items[
      np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]),
                lengths) + np.arange(lengths.sum())]
  out = np.zeros((user.shape[0], num_items), np.float32)
  out[rows, items] = 1.0
  return out


@dataclasses.dataclass
class Candidates:
  """A sub-batch of requests up to the coarse stage, `[r, k]` arrays over
  each request's k retrieved items (`cand` their item indices).

  `utility` and `buy_utility` are hidden truth; `fine` the fine ranker's
  scores; `legacy` the legacy coarse stage's.
  """
  req: np.ndarray  # [r] request indices.
  user: np.ndarray  # [r] user indices.
  cand: np.ndarray
  utility: np.ndarray
  buy_utility: np.ndarray
  fine: np.ndarray
  legacy: np.ndarray


def draw_candidates(cfg: config_lib.WorldConfig,
                    catalog: population.Catalog, users: population.Users,
                    arrivals: population.Arrivals, req: np.ndarray,
                    rng: np.random.Generator,
                    fine_scorer: FineScorer = None) -> Candidates:
  """Retrieval, the hidden utilities and both stages' scores of requests
  `req`, drawn from `rng` in a fixed order."""
  r, k = req.shape[0], cfg.retrieval_size
  intent = arrivals.intent[req]
  qbrand = arrivals.brand[req]
  user = arrivals.user[req]

  # The request's time as a share of the period (negative in the burn-in):
  # items launch and popularity moves with it.
  tau = ((arrivals.ts[req] - cfg.start_ts)
         / float(cfg.end_ts - cfg.start_ts)).astype(np.float32)
  log_popularity = np.log(catalog.popularity)[None, :].astype(np.float32)
  if cfg.trend_sigma:
    log_popularity = log_popularity + catalog.trend[None, :] * tau[:, None]
  bought_before = (_history_matrix(users, user, catalog.category.shape[0])
                   if cfg.w_repeat or cfg.retrieval_history_weight else None)
  # Retrieval: k distinct items by Gumbel-top-k on popularity, intent, brand
  # (and what the user bought before), among the items already launched.
  logits = (0.5 * log_popularity
            + cfg.retrieval_category_weight
            * (catalog.category[None, :] == intent[:, None])
            + 1.5 * (catalog.brand[None, :] == qbrand[:, None])
            + rng.gumbel(size=(r, catalog.category.shape[0])
                         ).astype(np.float32))
  if cfg.retrieval_history_weight:
    logits += cfg.retrieval_history_weight * bought_before
  if cfg.new_item_share:
    logits = np.where(catalog.launch[None, :] <= tau[:, None], logits,
                      -np.inf)
  cand = _top_k(logits, k)
  del logits

  cat_match = catalog.category[cand] == intent[:, None]
  brand_match = catalog.brand[cand] == qbrand[:, None]
  z = catalog.z_popularity[cand]
  if cfg.trend_sigma:
    z = z + catalog.trend[cand] * tau[:, None] / float(
        np.log(catalog.popularity).std())
  pref = np.einsum("rkd,rd->rk", catalog.vector[cand], users.vector[user]
                   ) / np.sqrt(cfg.embedding_dim)
  price_gap = np.abs(catalog.log_price[cand]
                     - users.preferred_log_price[user][:, None])
  u_det = (cfg.w_category * cat_match + cfg.w_preference * pref
           + cfg.w_popularity * z + cfg.w_brand * brand_match
           - cfg.w_price * price_gap)
  if cfg.w_repeat:
    u_det = u_det + cfg.w_repeat * np.take_along_axis(bought_before, cand,
                                                      axis=1)
  utility = u_det + rng.normal(0.0, cfg.utility_noise, size=u_det.shape)
  if cfg.purchase_preference_weight or cfg.purchase_price_weight:
    buy_utility = (utility + cfg.purchase_preference_weight * pref
                   - cfg.purchase_price_weight * price_gap)
  else:
    buy_utility = utility

  if fine_scorer is None:
    conf = catalog.fine_confidence[cand]
    prior = (cfg.w_category * cat_match + cfg.w_brand * brand_match
             + cfg.w_popularity * z + catalog.fine_bias[cand])
    fine = (conf * u_det + (1.0 - conf) * prior
            + rng.normal(0.0, cfg.fine_noise, size=u_det.shape))
  else:
    fine = fine_scorer(req, cand)

  # Legacy coarse stage: a noisy popularity-and-category imitation.
  legacy = (0.7 * z + 1.5 * cat_match + 1.0 * brand_match
            + rng.normal(0.0, 1.0, size=u_det.shape))
  return Candidates(req=req, user=user, cand=cand, utility=utility,
                    buy_utility=buy_utility, fine=fine, legacy=legacy)


def pass_on(cands: Candidates, coarse: np.ndarray, size: int) -> np.ndarray:
  """The `size` items of highest `coarse` score (`[r, k]`), as `[r, size]`
  columns of `cand` sorted by the fine score, highest first: the order the
  fine ranker shows them in."""
  passed = _top_k(coarse, size)
  rows = np.arange(passed.shape[0])[:, None]
  return passed[rows, np.argsort(-cands.fine[rows, passed], axis=1)]


@dataclasses.dataclass
class Funnel:
  """What users did with the items a coarse stage passed, `[r, K]` in the
  fine ranker's order (`passed`: columns of `cand`), and the out-of-scene
  purchases `[r, k]` over every retrieved item."""
  passed: np.ndarray
  position: np.ndarray  # -1 where not exposed.
  clicked: np.ndarray
  purchased: np.ndarray
  out_of_scene: np.ndarray


def out_of_scene_raw(cfg: config_lib.WorldConfig, cands: Candidates,
                     shown: np.ndarray) -> np.ndarray:
  """`[r, k]` unscaled out-of-scene purchase weights of wanted retrieved
  items; `shown` (bool `[r, k]`) ones weigh `out_of_scene_shown_weight`."""
  return (np.where(shown, cfg.out_of_scene_shown_weight, 1.0)
          * _sigmoid(2.0 * (cands.buy_utility - cfg.out_of_scene_threshold)))


def scale_to_rate(cfg: config_lib.WorldConfig, raw: np.ndarray) -> float:
  """The factor that makes a request buy `out_of_scene_rate` retrieved
  items elsewhere on average, given `out_of_scene_raw`'s weights."""
  return cfg.out_of_scene_rate / max(raw.sum(axis=1).mean(), 1e-12)


def funnel(cfg: config_lib.WorldConfig, cands: Candidates,
           passed: np.ndarray, click_draw: np.ndarray, buy_draw: np.ndarray,
           out_of_scene_draw: np.ndarray,
           out_of_scene_scale: Optional[float] = None) -> Funnel:
  """Exposure, clicks, in-scene and out-of-scene purchases.

  Args:
    cfg, cands: the world and the sub-batch.
    passed: `[r, K]` columns of `cands.cand` in the order shown.
    click_draw, buy_draw: uniforms `[r, K]`, one per entry of `passed`.
    out_of_scene_draw: uniforms `[r, k]`, one per retrieved item.
    out_of_scene_scale: None scales the out-of-scene weights so that a
      request buys `out_of_scene_rate` items elsewhere on average (how the
      logs are made); a replay passes one scale for every arm.
  """
  r, size = passed.shape
  rows = np.arange(r)[:, None]
  rank = np.broadcast_to(np.arange(size), passed.shape)
  exposed = rank < cfg.exposed_size
  position = np.where(exposed, rank, -1).astype(np.int32)
  bias = (1.0 + rank) ** -cfg.position_bias_power
  clicked = exposed & (click_draw < bias * _sigmoid(
      cands.utility[rows, passed] - cfg.click_threshold))
  purchased = clicked & (buy_draw < _sigmoid(
      cands.buy_utility[rows, passed] - cfg.purchase_threshold))

  # Out-of-scene purchases of wanted items that were retrieved (shown ones
  # with a relative weight, by default 0).
  shown = np.zeros(cands.cand.shape, dtype=bool)
  shown[rows, passed[:, :cfg.exposed_size]] = True
  raw = out_of_scene_raw(cfg, cands, shown)
  if out_of_scene_scale is None:
    out_of_scene_scale = scale_to_rate(cfg, raw)
  return Funnel(passed=passed, position=position, clicked=clicked,
                purchased=purchased,
                out_of_scene=out_of_scene_draw < raw * out_of_scene_scale)


def _simulate_batch(cfg: config_lib.WorldConfig, catalog: population.Catalog,
                    users: population.Users,
                    arrivals: population.Arrivals, req: np.ndarray,
                    logged: np.ndarray, rng: np.random.Generator,
                    fine_scorer: FineScorer = None,
                    explore_share: float = 0.0) -> dict:
  """Simulates requests `req`; returns flat row arrays keyed like ChunkLogs."""
  r, k = req.shape[0], cfg.retrieval_size
  cands = draw_candidates(cfg, catalog, users, arrivals, req, rng,
                          fine_scorer)
  passed = pass_on(cands, cands.legacy, cfg.coarse_size)
  if explore_share > 0:
    # Exploration traffic: the fine ranker's candidates in random order.
    explore = rng.random(r) < explore_share
    shuffle = np.argsort(rng.random((int(explore.sum()), cfg.coarse_size)),
                         axis=1)
    passed[explore] = np.take_along_axis(passed[explore], shuffle, axis=1)
  click_draw = rng.random(passed.shape)
  buy_draw = rng.random(passed.shape)
  out = funnel(cfg, cands, passed, click_draw, buy_draw,
               rng.random((r, k)))
  rows = np.arange(r)[:, None]
  cand, user, utility = cands.cand, cands.user, cands.utility
  oos_r, oos_c = np.nonzero(out.out_of_scene)
  oos_ts = (arrivals.ts[req][oos_r]
            + rng.integers(1, cfg.attribution_window_s, size=oos_r.size))
  buy_r, buy_c = np.nonzero(out.purchased)
  buy_ts = arrivals.ts[req][buy_r] + rng.integers(5, 1800, size=buy_r.size)
  u_imp = utility[rows, passed]

  cand_rows = np.repeat(req[logged], k)
  return dict(
      imp_request=np.repeat(req, cfg.coarse_size),
      imp_item=cand[rows, passed].ravel(),
      imp_fine_score=cands.fine[rows, passed].ravel(),
      imp_position=out.position.ravel(),
      imp_clicked=out.clicked.ravel(),
      imp_purchased=out.purchased.ravel(),
      imp_utility=u_imp.ravel(),
      cand_request=cand_rows,
      cand_item=cand[logged].ravel(),
      cand_fine_score=cands.fine[logged].ravel(),
      cand_utility=utility[logged].ravel(),
      tx_user=np.concatenate([user[buy_r], user[oos_r]]),
      tx_item=np.concatenate([cand[rows, passed][buy_r, buy_c],
                              cand[oos_r, oos_c]]),
      tx_ts=np.concatenate([buy_ts, oos_ts]),
      tx_scene=np.concatenate([
          np.zeros(buy_r.size, dtype=np.int32),
          rng.integers(1, len(OTHER_SCENES) + 1, size=oos_r.size)]),
      transaction_source=np.concatenate([req[buy_r], req[oos_r]]),
      transaction_utility=np.concatenate([u_imp[buy_r, buy_c],
                                          utility[oos_r, oos_c]]),
  )


def _background(cfg: config_lib.WorldConfig, catalog: population.Catalog,
                arrivals: population.Arrivals, req: np.ndarray,
                rng: np.random.Generator) -> dict:
  """Purchases outside search, unrelated to any request: attribution noise."""
  n = rng.poisson(cfg.background_purchase_rate * req.shape[0])
  lo, hi = arrivals.ts[req[0]], arrivals.ts[req[-1]] + cfg.attribution_window_s
  item = np.minimum(np.searchsorted(np.cumsum(catalog.popularity),
                                    rng.random(n)),
                    catalog.popularity.shape[0] - 1)
  return dict(tx_user=rng.integers(0, cfg.users, size=n),
              tx_item=item,
              tx_ts=rng.integers(lo, hi + 1, size=n),
              tx_scene=rng.integers(1, len(OTHER_SCENES) + 1, size=n),
              transaction_source=np.full(n, -1),
              transaction_utility=np.full(n, np.nan))


def logged_requests(cfg: config_lib.WorldConfig, lo: int, hi: int,
                    rng: np.random.Generator) -> np.ndarray:
  """bool `[hi - lo]`: requests [lo, hi) whose candidate set is logged: the
  newest `candidate_log_share`, and `early_candidate_log_share` of the
  others drawn with `rng`."""
  first_logged = cfg.num_requests - int(
      round(cfg.candidate_log_share * cfg.num_requests))
  early = rng.random(hi - lo) < cfg.early_candidate_log_share
  return (np.arange(lo, hi) >= first_logged) | early


def simulate_chunk(cfg: config_lib.WorldConfig, catalog: population.Catalog,
                   users: population.Users, arrivals: population.Arrivals,
                   lo: int, hi: int, rng: np.random.Generator,
                   fine_scorer: FineScorer = None,
                   logged: Optional[np.ndarray] = None,
                   explore_share: float = 0.0) -> ChunkLogs:
  """Simulates requests [lo, hi) (indices in time order).

  `fine_scorer` replaces the parametric fine ranker; `logged` (bool
  `[hi - lo]`, see `logged_requests`) says whose candidate set is logged,
  None none; `explore_share` of the requests show the fine ranker's
  candidates in random order (for the burn-in).
  """
  if logged is None:
    logged = np.zeros(hi - lo, dtype=bool)
  step = sub_batch_size(cfg.num_items)
  parts = [
      _simulate_batch(cfg, catalog, users, arrivals,
                      np.arange(s, min(s + step, hi)),
                      logged[s - lo:min(s + step, hi) - lo], rng,
                      fine_scorer, explore_share)
      for s in range(lo, hi, step)
  ]
  parts.append(_background(cfg, catalog, arrivals, np.arange(lo, hi), rng))
  fields = {}
  for f in dataclasses.fields(ChunkLogs):
    if f.name == "requests":
      continue
    fields[f.name] = np.concatenate([p[f.name] for p in parts if f.name in p])
  return ChunkLogs(requests=np.arange(lo, hi), **fields)
