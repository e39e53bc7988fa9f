"""The synthetic search-log world: a seeded population simulated chunk by chunk into raw-log tables."""

import dataclasses
import functools
from typing import Dict, Iterable, Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.raw_logs import contract as c
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import fitted_fine
from tfx_pipeline.synthetic import population
from tfx_pipeline.synthetic import simulate

SCENES = (c.SEARCH_SCENE,) + simulate.OTHER_SCENES


def item_ids(index: np.ndarray) -> np.ndarray:
  return np.char.mod("i%06d", index)


def user_ids(index: np.ndarray) -> np.ndarray:
  return np.char.mod("u%07d", index)


def request_ids(index: np.ndarray, prefix: str = "r") -> np.ndarray:
  return np.char.mod(prefix + "%08d", index)


# Request ids of the burn-in period ("previous"), never written.
BURN_IN_PREFIX = "p"


@dataclasses.dataclass
class Chunk:
  """Raw-log tables of a chunk of requests and the hidden truth behind them."""
  tables: Dict[str, pa.Table]
  logs: simulate.ChunkLogs


class SyntheticWorld:
  """A seeded world; tests reach the hidden truth through its attributes.

  Attributes:
    config: the WorldConfig.
    catalog, users, arrivals: the population (hidden parameters included).
    category_names: the word naming each category.
    category_words: the words each category is searched with
      (population.category_words).
    burn_in: with a fitted fine ranker, the burn-in's `requests` and
      `impressions` tables (contract tables, not written); else empty.
    fine_ranker: the FittedFineRanker, or None for the parametric one.
  """

  def __init__(self, config: config_lib.WorldConfig):
    self.config = config
    rng = np.random.default_rng([config.seed, 0])
    self.catalog = population.make_catalog(config, rng)
    self.users = population.make_users(config, self.catalog, rng)
    self.arrivals = population.make_arrivals(config, self.catalog, self.users,
                                             rng)
    self.category_names = population.category_names(config)
    self.category_words = population.category_words(config)
    self._item_id = pa.array(item_ids(np.arange(config.num_items)))
    self._user_id = pa.array(user_ids(np.arange(config.users)))
    self.burn_in: Dict[str, pa.Table] = {}
    self.fine_ranker: Optional[fitted_fine.FittedFineRanker] = None
    if config.fine_ranker == "fitted":
      self._fit_fine_ranker()

  def _fit_fine_ranker(self) -> None:
    """Simulates the burn-in, served by the parametric fine ranker (the
    previous production model), and fits the new fine ranker on its logs."""
    cfg = self.config
    span = max(1, int(cfg.days * config_lib.DAY_S * cfg.burn_in_share))
    arrivals = population.make_arrivals(
        cfg, self.catalog, self.users, np.random.default_rng([cfg.seed, 2]),
        num_requests=cfg.burn_in_requests, start_ts=cfg.start_ts - span,
        end_ts=cfg.start_ts, activity=self.arrivals.activity)
    chunks = list(self._simulate(arrivals, burn_in=True))
    self.burn_in = {
        name: pa.concat_tables([ch.tables[name] for ch in chunks])
        for name in (c.REQUESTS, c.IMPRESSIONS)}
    self._users_table = self.users_table()
    self.fine_ranker = fitted_fine.fit_fine_ranker(
        self.items_table(), self._users_table, self.burn_in[c.REQUESTS],
        self.burn_in[c.IMPRESSIONS])

  def _take(self, ids: pa.Array, index: np.ndarray) -> pa.Array:
    return pc.take(ids, pa.array(index.astype(np.int64)))

  def items_table(self) -> pa.Table:
    cat = self.catalog
    return pa.Table.from_arrays([
        self._item_id,
        pa.array(self.category_names[cat.category]),
        pa.array(np.char.mod("b%03d", cat.brand)),
        pa.array(np.round(np.exp(cat.log_price.astype(np.float64)), 2)),
    ], schema=c.TABLES[c.ITEMS].arrow_schema())

  def users_table(self) -> pa.Table:
    u = self.users
    keep = np.flatnonzero(u.in_users_table)
    return pa.Table.from_arrays([
        self._take(self._user_id, keep),
        pa.array(u.age_bucket[keep], type=pa.int32()),
        pa.array(np.asarray(population.GENDERS)[u.gender[keep]]),
        pa.array(u.purchase_power[keep], type=pa.int32()),
    ], schema=c.TABLES[c.USERS].arrow_schema())

  def query_text(self, req: np.ndarray,
                 arrivals: Optional[population.Arrivals] = None) -> np.ndarray:
    """Query strings: [modifier] [brand] category word (the intent's name,
    or another of its query words)."""
    a = self.arrivals if arrivals is None else arrivals
    words = self.category_words[a.intent[req], a.word[req]].astype(object)
    brand = a.brand[req]
    has_brand = brand >= 0
    words[has_brand] = (np.char.mod("b%03d ", brand[has_brand]).astype(object)
                        + words[has_brand])
    modifier = a.modifier[req]
    has_mod = modifier >= 0
    words[has_mod] = (np.asarray(population.MODIFIER_WORDS)[modifier[has_mod]]
                      .astype(object) + " " + words[has_mod])
    return words.astype(str)

  def requests_table(self, req: np.ndarray, arrivals: population.Arrivals,
                     prefix: str) -> pa.Table:
    """The contract's `requests` rows of requests `req` of `arrivals`, ids
    `prefix` + index."""
    a, u = arrivals, self.users
    user = a.user[req]
    starts = u.history_offsets[user]
    lengths = u.history_offsets[user + 1] - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    history = pa.ListArray.from_arrays(
        pa.array(offsets),
        self._take(self._item_id, u.history_items[flat]))
    return pa.Table.from_arrays([
        pa.array(request_ids(req, prefix)),
        self._take(self._user_id, user),
        pa.array(self.query_text(req, a)),
        pa.array(a.ts[req], type=pa.int64()),
        history,
    ], schema=c.TABLES[c.REQUESTS].arrow_schema())

  def _tables(self, logs: simulate.ChunkLogs,
              requests: pa.Table) -> Dict[str, pa.Table]:
    lo = int(logs.requests[0])
    req_id = requests[c.REQUEST_ID].combine_chunks()
    tables = {
        c.REQUESTS: requests,
        c.IMPRESSIONS: pa.Table.from_arrays([
            self._take(req_id, logs.imp_request - lo),
            self._take(self._item_id, logs.imp_item),
            pa.array(logs.imp_fine_score.astype(np.float64)),
            pa.array(logs.imp_position >= 0),
            pa.array(logs.imp_position, type=pa.int32()),
            pa.array(logs.imp_clicked),
            pa.array(logs.imp_purchased),
        ], schema=c.TABLES[c.IMPRESSIONS].arrow_schema()),
        c.TRANSACTIONS: pa.Table.from_arrays([
            self._take(self._user_id, logs.tx_user),
            self._take(self._item_id, logs.tx_item),
            pa.array(logs.tx_ts.astype(np.int64)),
            pa.array(np.asarray(SCENES)[logs.tx_scene]),
        ], schema=c.TABLES[c.TRANSACTIONS].arrow_schema()),
    }
    if logs.cand_request.size:
      tables[c.CANDIDATES] = pa.Table.from_arrays([
          self._take(req_id, logs.cand_request - lo),
          self._take(self._item_id, logs.cand_item),
          pa.array(logs.cand_fine_score.astype(np.float64)),
      ], schema=c.TABLES[c.CANDIDATES].arrow_schema())
    return tables

  def chunks(self) -> Iterator[Chunk]:
    """Simulates the requests in time order, `requests_per_file` at a time."""
    return self._simulate(self.arrivals, burn_in=False)

  def _simulate(self, arrivals: population.Arrivals,
                burn_in: bool) -> Iterator[Chunk]:
    """Chunks of `arrivals`. The burn-in has its own random streams and
    request ids, the parametric fine ranker with exploration traffic, and no
    candidate log; the period has the fitted fine ranker if there is one."""
    cfg = self.config
    stream, prefix = (3, BURN_IN_PREFIX) if burn_in else (1, "r")
    num = arrivals.ts.shape[0]
    for index, lo in enumerate(range(0, num, cfg.requests_per_file)):
      hi = min(lo + cfg.requests_per_file, num)
      requests = self.requests_table(np.arange(lo, hi), arrivals, prefix)
      scorer = None if burn_in else self.fine_scorer(requests, lo)
      rng = np.random.default_rng([cfg.seed, stream, index])
      logged = None if burn_in else simulate.logged_requests(
          cfg, lo, hi, np.random.default_rng([cfg.seed, 4, index]))
      logs = simulate.simulate_chunk(
          cfg, self.catalog, self.users, arrivals, lo, hi, rng,
          fine_scorer=scorer, logged=logged,
          explore_share=cfg.burn_in_exploration_share if burn_in else 0.0)
      yield Chunk(tables=self._tables(logs, requests), logs=logs)

  def fine_scorer(self, requests: pa.Table, lo: int) -> simulate.FineScorer:
    """The fitted fine ranker's scorer of `requests` (request indices from
    `lo`), None for the parametric one."""
    if self.fine_ranker is None:
      return None
    ctx = fitted_fine.request_context(requests, self._users_table,
                                      self.fine_ranker.items)
    return functools.partial(_score_chunk, self.fine_ranker, ctx, lo)

  def fine_agreement(self, logs: Iterable[simulate.ChunkLogs]) -> dict:
    """The fitted fine ranker's agreement with the hidden utility among the
    logged candidate sets, by the items' burn-in exposures (see
    `fitted_fine.agreement_by_exposure`)."""
    logs = list(logs)
    item = np.concatenate([l.cand_item for l in logs])
    return fitted_fine.agreement_by_exposure(
        np.concatenate([l.cand_request for l in logs]),
        np.concatenate([l.cand_fine_score for l in logs]),
        np.concatenate([l.cand_utility for l in logs]),
        self.fine_ranker.stats.exposures[item])


def _score_chunk(ranker: fitted_fine.FittedFineRanker,
                 ctx: fitted_fine.RequestContext, lo: int, req: np.ndarray,
                 cand: np.ndarray) -> np.ndarray:
  """Fine scores of a sub-batch: `req` (chunk starts at `lo`) x `cand`."""
  return ranker.score(ctx, (req - lo)[:, None], cand)


def generate(config: config_lib.WorldConfig):
  """The whole world in memory: (tables by name, world, chunks' logs).

  For tests and small worlds; `write.write_logs` streams large ones to disk.
  """
  world = SyntheticWorld(config)
  chunks = list(world.chunks())
  tables = {c.ITEMS: world.items_table(), c.USERS: world.users_table()}
  for name in (c.REQUESTS, c.IMPRESSIONS, c.TRANSACTIONS, c.CANDIDATES):
    parts = [ch.tables[name] for ch in chunks if name in ch.tables]
    tables[name] = (pa.concat_tables(parts) if parts else
                    c.TABLES[name].arrow_schema().empty_table())
  return tables, world, [ch.logs for ch in chunks]
