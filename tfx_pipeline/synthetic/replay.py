"""A fresh request stream of a world replayed through the funnel once per coarse stage, with common random numbers.

Every arm sees the same requests: the same users, queries, retrieved items,
hidden utilities and fine scores, and the same click, purchase and
out-of-scene draws (one uniform per retrieved item, so an item an arm shows
at the same rank meets the same draw in every arm). Arms differ only in the
items their coarse stage passes to the fine ranker, so the differences of
their outcomes come from the coarse stage alone.

The unmet want links the scenes. Each wanted retrieved item is a want, as in
the world's logs, where purchases elsewhere are drawn item by item. Bought
in the search, it is not bought again elsewhere; otherwise it is bought
elsewhere later, or not at all, by the world's own out-of-scene rule (the
rate, threshold and draws its logs are made with), shown or not: seeing an
item in the search does not end the want (the logs' `out_of_scene_shown_weight`
says which purchases elsewhere the logs count, not what a user would have
done). So a coarse stage gains where the search sells an item that would
not have been bought elsewhere, and gains nothing where it sells one that
would. No parameter of the rule is the replay's own, and none depends on
the arm.
"""

import dataclasses
from typing import Callable, Dict, List, Sequence

import numpy as np
import pyarrow as pa

from components.raw_logs import contract as c
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import population
from tfx_pipeline.synthetic import simulate
from tfx_pipeline.synthetic import world as world_lib

# Coarse stages of the funnel.
LEGACY, MODEL, ORACLE, RANDOM = "legacy", "model", "oracle", "random"
STAGES = (LEGACY, MODEL, ORACLE, RANDOM)
# The fine ranker's top this many over the whole candidate set: the
# stage-consistency measure asks how many of them a coarse stage keeps.
FINE_TOP = 10
# An online A/B test runs about a week, long enough for weekly cycles and
# short enough that the logs' model is still the one being tested.
AB_DAYS = 7
# Request ids of the replay.
REPLAY_PREFIX = "a"

# A model coarse stage: (the sub-batch's `requests` rows, candidate item ids
# `[r, k]`) -> scores `[r, k]`.
ModelScorer = Callable[[pa.Table, np.ndarray], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Arm:
  """A coarse stage (one of STAGES) passing its top `size` items."""
  name: str
  stage: str
  size: int


# Per-request outcomes of an arm, each `[num_requests]`.
OUTCOMES = ("exposures", "clicks", "purchases_in_scene",
            "purchases_out_of_scene", "gmv", "fine_top_kept",
            "purchases_dropped")


def replay_arrivals(world: world_lib.SyntheticWorld, num_requests: int,
                    seed: int) -> population.Arrivals:
  """`num_requests` requests in the AB_DAYS after the logged period: the
  same users (by the same activity) and catalog, the world's drift (item
  launches, popularity trends) carried on. The span does not depend on
  `num_requests`, so replays of different sizes see the same world."""
  cfg = world.config
  return population.make_arrivals(
      cfg, world.catalog, world.users,
      np.random.default_rng([cfg.seed, 7, seed]), num_requests=num_requests,
      start_ts=cfg.end_ts, end_ts=cfg.end_ts + AB_DAYS * config_lib.DAY_S,
      activity=world.arrivals.activity)


@dataclasses.dataclass
class Draws:
  """Common random numbers of a sub-batch, `[r, k]` each, one per retrieved
  item: uniforms for its click, purchase and out-of-scene purchase, and its
  random stage's score."""
  click: np.ndarray
  buy: np.ndarray
  out_of_scene: np.ndarray
  random_stage: np.ndarray


def arm_outcomes(cfg: config_lib.WorldConfig, cands: simulate.Candidates,
                 scores: np.ndarray, size: int, draws: Draws, scale: float,
                 price: np.ndarray) -> Dict[str, np.ndarray]:
  """Per-request outcomes (OUTCOMES) of a coarse stage that scored `scores`
  `[r, k]` and passed its top `size`; `price` `[num_items]`."""
  rows = np.arange(scores.shape[0])[:, None]
  passed = simulate.pass_on(cands, scores, size)
  out = simulate.funnel(cfg, cands, passed, draws.click[rows, passed],
                        draws.buy[rows, passed], draws.out_of_scene, scale)
  bought_here = np.zeros(cands.cand.shape, dtype=bool)
  bought_here[rows, passed] = out.purchased
  elsewhere = out.out_of_scene & ~bought_here
  kept = np.zeros(cands.cand.shape, dtype=bool)
  kept[rows, passed] = True
  fine_top = np.argsort(-cands.fine, axis=1)[:, :FINE_TOP]
  item_price = price[cands.cand]
  return dict(
      exposures=(out.position >= 0).sum(axis=1).astype(np.float64),
      clicks=out.clicked.sum(axis=1).astype(np.float64),
      purchases_in_scene=bought_here.sum(axis=1).astype(np.float64),
      purchases_out_of_scene=elsewhere.sum(axis=1).astype(np.float64),
      gmv=(item_price * (bought_here | elsewhere)).sum(axis=1),
      fine_top_kept=kept[rows, fine_top].mean(axis=1),
      purchases_dropped=(elsewhere & ~kept).sum(axis=1).astype(np.float64))


def replay(world: world_lib.SyntheticWorld, arms: Sequence[Arm],
           num_requests: int, seed: int = 0,
           model_scorer: ModelScorer = None,
           progress: Callable[[int, int], None] = None
           ) -> Dict[str, Dict[str, np.ndarray]]:
  """Replays `num_requests` fresh requests through every arm.

  Args:
    world: the world the logs (and the model) come from.
    arms: the coarse stages to compare; sizes from the world's exposed size
      to its retrieval size.
    num_requests: requests to replay.
    seed: the replay's seed (the world's own seed is its config's).
    model_scorer: scores the MODEL arms; required if there are any.
    progress: called with (requests done, num_requests) after each batch.

  Returns:
    arm name -> outcome name (OUTCOMES) -> `[num_requests]`.

  Raises:
    ValueError: an unknown stage, a size out of range, a MODEL arm without
      a scorer or repeated arm names.
  """
  _check_arms(world.config, arms, model_scorer)
  cfg = dataclasses.replace(world.config, out_of_scene_shown_weight=1.0)
  arrivals = replay_arrivals(world, num_requests, seed)
  price = np.exp(world.catalog.log_price.astype(np.float64))
  item_ids = world_lib.item_ids(np.arange(cfg.num_items))
  step = simulate.sub_batch_size(cfg.num_items)
  parts: Dict[str, List[Dict[str, np.ndarray]]] = {a.name: [] for a in arms}
  for index, lo in enumerate(range(0, num_requests, step)):
    req = np.arange(lo, min(lo + step, num_requests))
    requests = world.requests_table(req, arrivals, REPLAY_PREFIX)
    cands = simulate.draw_candidates(
        cfg, world.catalog, world.users, arrivals, req,
        np.random.default_rng([cfg.seed, 8, seed, index]),
        world.fine_scorer(requests, lo))
    rng = np.random.default_rng([cfg.seed, 9, seed, index])
    draws = Draws(*(rng.random(cands.cand.shape) for _ in range(4)))
    scores = {LEGACY: cands.legacy, ORACLE: cands.buy_utility,
              RANDOM: draws.random_stage}
    if any(a.stage == MODEL for a in arms):
      scores[MODEL] = np.asarray(model_scorer(requests, item_ids[cands.cand]),
                                 np.float64)
    # Every item alike: the scale depends on no arm.
    scale = simulate.scale_to_rate(cfg, simulate.out_of_scene_raw(
        cfg, cands, np.ones(cands.cand.shape, bool)))
    for arm in arms:
      parts[arm.name].append(arm_outcomes(cfg, cands, scores[arm.stage],
                                           arm.size, draws, scale, price))
    if progress is not None:
      progress(int(req[-1]) + 1, num_requests)
  return {name: {key: np.concatenate([p[key] for p in batches])
                 for key in OUTCOMES}
          for name, batches in parts.items()}


def _check_arms(cfg: config_lib.WorldConfig, arms: Sequence[Arm],
                model_scorer) -> None:
  names = [a.name for a in arms]
  if len(set(names)) != len(names):
    raise ValueError(f"arm names repeat: {names}")
  for arm in arms:
    if arm.stage not in STAGES:
      raise ValueError(f"arm {arm.name!r}: unknown stage {arm.stage!r}; "
                       f"choose one of {', '.join(STAGES)}")
    if not cfg.exposed_size <= arm.size <= cfg.retrieval_size:
      raise ValueError(
          f"arm {arm.name!r}: coarse output size {arm.size} is outside "
          f"[{cfg.exposed_size}, {cfg.retrieval_size}] (the world shows "
          f"{cfg.exposed_size} items of {cfg.retrieval_size} retrieved)")
    if arm.stage == MODEL and model_scorer is None:
      raise ValueError(f"arm {arm.name!r} needs a model scorer")


def user_profiles(world: world_lib.SyntheticWorld) -> Dict[str, dict]:
  """user id -> the profile fields the users table holds for them."""
  return {row[c.USER_ID]: {k: v for k, v in row.items() if v is not None}
          for row in world.users_table().to_pylist()}


def request_contexts(profiles: Dict[str, dict], requests: pa.Table
                     ) -> List[dict]:
  """The serving request fields of each row of `requests` (RankRequest
  keyword arguments but the candidates), the profile from `profiles`
  (unknown for a user without one)."""
  out = []
  for row in requests.to_pylist():
    profile = profiles.get(row[c.USER_ID], {})
    out.append(dict(
        user_id=row[c.USER_ID], query=row[c.QUERY],
        user_history=list(row[c.USER_HISTORY] or ()),
        **{key: profile[key] for key in (c.AGE_BUCKET, c.PURCHASE_POWER,
                                         c.GENDER) if key in profile}))
  return out
