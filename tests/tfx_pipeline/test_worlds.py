"""Tests of the world suite: presets, their mechanisms and the fitted fine ranker."""

import dataclasses
import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from components.raw_logs import contract as c
from components.raw_logs import validate
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import fitted_fine
from tfx_pipeline.synthetic import population
from tfx_pipeline.synthetic import simulate
from tfx_pipeline.synthetic import world as world_lib
from tfx_pipeline.synthetic import worlds
from tfx_pipeline.synthetic import write

# A small fitted-fine world: one sub-batch per chunk, so that retrieval draws
# the same candidates when only hidden parameters change.
FITTED = worlds.world_config("learned_fine", num_requests=400, seed=5,
                             num_items=1500, requests_per_file=200)


@pytest.fixture(scope="module")
def fitted():
  return world_lib.generate(FITTED)


def _concat(logs, field):
  return np.concatenate([getattr(l, field) for l in logs])


def _frames(tables):
  return {name: t.to_pandas() for name, t in tables.items()}


# --- The suite's API and presets ------------------------------------------


def test_world_config_names_presets_and_overrides():
  assert set(worlds.WORLDS) >= {"default", "learned_fine", "paper_scale",
                                "sparse"}
  assert worlds.world_config("default") == config_lib.WorldConfig()
  cfg = worlds.world_config("sparse", num_requests=900, seed=4, num_items=9000)
  assert (cfg.num_requests, cfg.seed, cfg.num_items) == (900, 4, 9000)
  assert cfg.users == 600  # num_requests / 1.5
  paper = worlds.world_config("paper_scale")
  assert paper.retrieval_size >= 2000 and paper.num_items >= 50_000
  assert paper.coarse_size == round(0.05 * paper.retrieval_size)
  with pytest.raises(ValueError, match="unknown world"):
    worlds.world_config("nope")
  with pytest.raises(ValueError, match="unknown WorldConfig fields"):
    worlds.world_config("default", not_a_field=1)


@pytest.mark.parametrize("name", sorted(worlds.WORLDS))
def test_every_world_writes_valid_logs(name, tmp_path):
  cfg = worlds.world_config(name, num_requests=150, seed=2)
  summary = write.write_logs(str(tmp_path), cfg)
  report = validate.validate_logs(str(tmp_path))
  assert report.ok, report.format()
  assert summary["rows"][c.REQUESTS] == 150
  assert summary["rows"][c.IMPRESSIONS] == 150 * cfg.coarse_size
  # The newest 30 requests' candidate sets and a sample of the others'.
  logged = summary["requests_with_candidates"]
  assert summary["rows"][c.CANDIDATES] == logged * cfg.retrieval_size
  assert logged >= 30
  assert summary["fine_ranker"]["ranker"] == cfg.fine_ranker
  if cfg.fine_ranker == "fitted":
    agreement = summary["fine_ranker"]["agreement_by_burn_in_exposure"]
    assert set(agreement) == {"all", "never", "rare", "often"}
    assert agreement["all"]["requests"] == logged


def test_default_world_output_is_unchanged():
  # Digest of the tables the generator wrote before the suite existed, when
  # only the newest requests' candidate sets were logged.
  tables, _, _ = world_lib.generate(worlds.world_config(
      "default", num_requests=300, num_items=600, requests_per_file=120,
      seed=11, candidate_log_share=0.1, early_candidate_log_share=0.0))
  digest = hashlib.sha256()
  for name in sorted(tables):
    digest.update(name.encode())
    digest.update(repr(tables[name].to_pydict()).encode())
  assert digest.hexdigest() == (
      "bd6a97d8af9f0d2c396656f0c8c625b402c3d0e24f708080217b7d9522b58216")


def test_worlds_are_deterministic_per_seed():
  cfg = worlds.world_config("sparse", num_requests=120, seed=1,
                            num_items=7000)
  a, _, _ = world_lib.generate(cfg)
  b, _, _ = world_lib.generate(cfg)
  for name in c.TABLES:
    assert a[name].equals(b[name]), name


def test_sub_batches_stay_small_for_big_catalogs():
  assert simulate.sub_batch_size(5_000) == 500
  assert simulate.sub_batch_size(20_000) == 500
  assert simulate.sub_batch_size(50_000) * 50_000 <= 10_000_000
  assert simulate.sub_batch_size(10 ** 9) == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(fine_ranker="fitted"), "burn_in_share"),
    (dict(fine_ranker="magic"), "fine_ranker"),
    (dict(popularity_law="pareto"), "popularity_law"),
    (dict(category_vocabulary="numbered", num_categories=2000),
     "num_categories"),
    (dict(burn_in_exploration_share=2.0), "burn_in_exploration_share"),
])
def test_config_rejects_bad_mechanisms(kwargs, message):
  with pytest.raises(ValueError, match=message):
    config_lib.WorldConfig(**kwargs)


# --- Mechanisms -------------------------------------------------------------


def test_numbered_categories_name_items_and_queries():
  cfg = config_lib.WorldConfig(num_requests=200, num_items=3000,
                               num_categories=150,
                               category_vocabulary="numbered",
                               brands_per_category=4, seed=2)
  tables, world, _ = world_lib.generate(cfg)
  categories = set(tables[c.ITEMS][c.CATEGORY].to_pylist())
  assert categories == {f"cat{k:03d}" for k in range(150)}
  words = [q.split()[-1] for q in tables[c.REQUESTS][c.QUERY].to_pylist()]
  np.testing.assert_array_equal(
      words, np.char.mod("cat%03d", world.arrivals.intent))


def test_lognormal_popularity_has_a_thinner_head_than_zipf():
  def top_share(**kwargs):
    cfg = config_lib.WorldConfig(num_items=20_000, retrieval_size=100,
                                 num_requests=1, **kwargs)
    pop = population.make_catalog(cfg, np.random.default_rng(0)).popularity
    return np.sort(pop)[::-1][:200].sum()

  assert top_share(popularity_law="lognormal", popularity_sigma=1.5) < 0.5 * (
      top_share())


def test_sparse_users_search_once_or_twice():
  cfg = worlds.world_config("sparse", num_requests=3000, num_items=7000)
  world = world_lib.SyntheticWorld(
      dataclasses.replace(cfg, fine_ranker="parametric"))
  per_user = np.bincount(world.arrivals.user)
  active = per_user[per_user > 0]
  assert np.mean(active <= 2) > 0.6
  default = world_lib.SyntheticWorld(config_lib.WorldConfig(num_requests=3000))
  default_active = np.bincount(default.arrivals.user)
  assert np.mean(default_active[default_active > 0] <= 2) < 0.4


def test_history_reveals_taste_when_weighted():
  def mean_taste(weight):
    cfg = config_lib.WorldConfig(num_requests=2000, num_items=2000, seed=3,
                                 history_taste_weight=weight)
    rng = np.random.default_rng(0)
    catalog = population.make_catalog(cfg, rng)
    users = population.make_users(cfg, catalog, rng)
    owner = np.repeat(np.arange(cfg.users), np.diff(users.history_offsets))
    items = users.history_items
    gap = np.abs(catalog.log_price[items] - users.preferred_log_price[owner])
    pref = np.einsum("hd,hd->h", catalog.vector[items], users.vector[owner])
    return pref.mean() / np.sqrt(cfg.embedding_dim) - gap.mean()

  assert mean_taste(2.0) > mean_taste(0.0) + 0.3


def test_purchase_weights_move_purchases_towards_the_price_level():
  def bought_gap(weight):
    cfg = config_lib.WorldConfig(num_requests=3000, num_items=2000, seed=3,
                                 purchase_price_weight=weight)
    tables, world, _ = world_lib.generate(cfg)
    tx = tables[c.TRANSACTIONS].to_pandas()
    users = tx.user_id.str[1:].astype(int).to_numpy()
    items = tx.item_id.str[1:].astype(int).to_numpy()
    return np.abs(world.catalog.log_price[items]
                  - world.users.preferred_log_price[users]).mean()

  assert bought_gap(2.0) < bought_gap(0.0) - 0.1


def test_a_category_is_searched_with_several_words_some_shared():
  cfg = config_lib.WorldConfig(num_requests=3000, num_items=3000,
                               num_categories=20,
                               category_vocabulary="numbered",
                               brands_per_category=4, seed=4,
                               query_words_per_category=3,
                               shared_word_share=0.2)
  words = population.category_words(cfg)
  assert words.shape == (20, 3)
  assert list(words[:, 0]) == [f"cat{k:03d}" for k in range(20)]
  assert words[1, 1] == "cat001-q1"
  # 20% of the categories (4) lend their last word to the next one too.
  shared = [k for k in range(20) if words[k, 2] == words[(k + 1) % 20, 2]]
  assert len(shared) == 4
  tables, world, _ = world_lib.generate(cfg)
  queries = tables[c.REQUESTS][c.QUERY].to_pylist()
  a = world.arrivals
  for query, intent, word in zip(queries, a.intent, a.word):
    assert query.split()[-1] == words[intent, word]
  # The name first and most often: weights 1, 1/2, 1/3.
  share = np.bincount(a.word, minlength=3) / a.word.size
  np.testing.assert_allclose(share, np.array([6, 3, 2]) / 11, atol=0.03)
  # One word per category (the default) draws nothing more: the world is
  # the one it was.
  plain = world_lib.SyntheticWorld(dataclasses.replace(
      cfg, query_words_per_category=1, shared_word_share=0.0))
  np.testing.assert_array_equal(plain.arrivals.intent, a.intent)
  assert not plain.arrivals.word.any()


def test_new_items_are_retrieved_only_after_their_launch():
  cfg = config_lib.WorldConfig(num_requests=2000, num_items=2000, seed=5,
                               new_item_share=0.3, requests_per_file=500,
                               early_candidate_log_share=1.0)
  tables, world, logs = world_lib.generate(cfg)
  launch = world.catalog.launch
  assert 0.25 < np.mean(launch > 0) < 0.35
  request = np.concatenate([l.cand_request for l in logs])
  item = np.concatenate([l.cand_item for l in logs])
  tau = (world.arrivals.ts[request] - cfg.start_ts) / (cfg.end_ts
                                                        - cfg.start_ts)
  assert (launch[item] <= tau).all()
  # New items are retrieved once out: among the last quarter's candidates.
  assert (launch[item[tau > 0.75]] > 0).mean() > 0.1
  # No one bought a new item before the period.
  assert not (launch[world.users.history_items] > 0).any()


def test_repeat_purchases_and_buy_again_retrieval():
  def history_share(**kwargs):
    cfg = config_lib.WorldConfig(num_requests=2000, num_items=2000, seed=6,
                                 history_mean_length=8.0, **kwargs)
    tables, world, logs = world_lib.generate(cfg)
    u = world.users
    bought_before = {(user, item) for user in range(cfg.users)
                     for item in u.history_items[
                         u.history_offsets[user]:u.history_offsets[user + 1]]}
    tx = tables[c.TRANSACTIONS].to_pandas()
    pairs = zip(tx.user_id.str[1:].astype(int), tx.item_id.str[1:].astype(int))
    return np.mean([pair in bought_before for pair in pairs])

  assert history_share(w_repeat=1.5, retrieval_history_weight=2.0) > (
      history_share() + 0.05)


def test_trends_move_what_sells_over_the_period():
  cfg = config_lib.WorldConfig(num_requests=6000, num_items=2000, seed=7,
                               trend_sigma=2.0)
  tables, world, _ = world_lib.generate(cfg)
  imp = tables[c.IMPRESSIONS].to_pandas()
  req = tables[c.REQUESTS].to_pandas().set_index(c.REQUEST_ID)[c.TS]
  imp = imp[imp.exposed]
  late = (req.loc[imp.request_id].to_numpy() - cfg.start_ts) > (
      0.5 * (cfg.end_ts - cfg.start_ts))
  trend = world.catalog.trend[imp.item_id.str[1:].astype(int).to_numpy()]
  # Items whose popularity rises are shown more late than early.
  assert trend[late].mean() > trend[~late].mean() + 0.2


# --- The fitted fine ranker ---------------------------------------------------


def test_fitted_on_the_exposed_rows_of_the_burn_in_only(fitted):
  tables, world, _ = fitted
  burn_imp = world.burn_in[c.IMPRESSIONS]
  np.testing.assert_array_equal(
      world.fine_ranker.fitted_rows,
      np.flatnonzero(burn_imp[c.EXPOSED].to_numpy()))
  assert world.fine_ranker.fitted_rows.size == (
      FITTED.burn_in_requests * FITTED.exposed_size)
  # Unexposed rows carry nothing into the fit: scrambling them changes
  # nothing.
  scrambled = burn_imp.set_column(
      burn_imp.schema.get_field_index(c.ITEM_ID), c.ITEM_ID,
      pc.if_else(burn_imp[c.EXPOSED], burn_imp[c.ITEM_ID],
                 pa.scalar("i000000")))
  refit = fitted_fine.fit_fine_ranker(
      tables[c.ITEMS], tables[c.USERS], world.burn_in[c.REQUESTS], scrambled)
  np.testing.assert_array_equal(refit.click_weights,
                                world.fine_ranker.click_weights)
  np.testing.assert_array_equal(refit.purchase_weights,
                                world.fine_ranker.purchase_weights)
  # The burn-in precedes the period and is not written.
  assert max(world.burn_in[c.REQUESTS][c.TS].to_pylist()) < FITTED.start_ts
  assert not any(r.startswith(world_lib.BURN_IN_PREFIX)
                 for r in tables[c.REQUESTS][c.REQUEST_ID].to_pylist())


def test_logged_fine_scores_follow_from_logged_tables_alone(fitted):
  tables, world, _ = fitted
  # Refitted from contract tables (the burn-in's and the written catalog and
  # users), the ranker scores the logged impressions exactly as logged.
  ranker = fitted_fine.fit_fine_ranker(
      tables[c.ITEMS], tables[c.USERS], world.burn_in[c.REQUESTS],
      world.burn_in[c.IMPRESSIONS])
  ctx = fitted_fine.request_context(tables[c.REQUESTS], tables[c.USERS],
                                    ranker.items)
  imp = tables[c.IMPRESSIONS]
  rows, items = (
      pc.index_in(imp[key], value_set=tables[name][key].combine_chunks())
      for name, key in ((c.REQUESTS, c.REQUEST_ID), (c.ITEMS, c.ITEM_ID)))
  np.testing.assert_allclose(
      ranker.score(ctx, rows.to_numpy(), items.to_numpy()),
      imp[c.FINE_SCORE].to_numpy(), rtol=1e-12)


def test_hidden_truth_does_not_reach_the_fine_ranker(fitted):
  _, _, logs = fitted
  # The same world and fitted ranker, with the hidden vectors, popularity
  # term and price levels replaced after the burn-in (retrieval's sampling
  # weights kept, so the same candidates are retrieved).
  world = world_lib.SyntheticWorld(FITTED)
  rng = np.random.default_rng(9)
  world.catalog = dataclasses.replace(
      world.catalog,
      vector=rng.normal(size=world.catalog.vector.shape).astype(np.float32),
      z_popularity=rng.permutation(world.catalog.z_popularity))
  world.users = dataclasses.replace(
      world.users,
      vector=rng.normal(size=world.users.vector.shape).astype(np.float32),
      preferred_log_price=rng.permutation(world.users.preferred_log_price))
  other = [chunk.logs for chunk in world.chunks()]
  np.testing.assert_array_equal(_concat(other, "cand_item"),
                                _concat(logs, "cand_item"))
  np.testing.assert_array_equal(_concat(other, "cand_fine_score"),
                                _concat(logs, "cand_fine_score"))
  assert not np.allclose(_concat(other, "cand_utility"),
                         _concat(logs, "cand_utility"))


def test_feature_matrix_equals_one_computed_by_hand(fitted):
  tables, world, _ = fitted
  f = _frames(tables)
  burn = world.burn_in[c.IMPRESSIONS].to_pandas()
  shown = burn[burn.exposed]
  ctr_at = shown.groupby("position").clicked.mean()
  items = f[c.ITEMS].set_index("item_id")
  power = f[c.USERS].set_index("user_id").purchase_power
  imp = f[c.IMPRESSIONS].sample(300, random_state=0).merge(
      f[c.REQUESTS], on="request_id")
  expected = []
  for row in imp.itertuples():
    item = items.loc[row.item_id]
    mine = shown[shown.item_id == row.item_id]
    words = row.query.split()
    brand_named = any(w.startswith("b") and w[1:].isdigit() for w in words)
    coec = (mine.clicked.sum() + fitted_fine.COEC_PRIOR_CLICKS) / (
        ctr_at[mine.position].sum() + fitted_fine.COEC_PRIOR_CLICKS)
    cvr_prior = (shown.purchased.sum() + 1) / (shown.clicked.sum() + 2)
    cvr = (mine.purchased.sum() + fitted_fine.CVR_PRIOR_CLICKS * cvr_prior
           ) / (mine.clicked.sum() + fitted_fine.CVR_PRIOR_CLICKS)
    log_price = np.log(item.price)
    history = [np.log(items.price[h]) for h in row.user_history]
    gap = abs(log_price - np.mean(history)) if history else 0.0
    expected.append([
        item.category == words[-1], item.brand in words,
        brand_named and item.brand not in words,
        np.log1p(len(mine)), np.log(coec), np.log(cvr / (1 - cvr)),
        log_price, log_price ** 2,
        (power.get(row.user_id, 3) - 3) * log_price, gap])
  ctx = fitted_fine.request_context(tables[c.REQUESTS], tables[c.USERS],
                                    world.fine_ranker.items)
  req_row = f[c.REQUESTS].reset_index().set_index("request_id")["index"]
  item_row = f[c.ITEMS].reset_index().set_index("item_id")["index"]
  got = world.fine_ranker.feature_matrix(
      ctx, req_row[imp.request_id].to_numpy(),
      item_row[imp.item_id].to_numpy())
  np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64),
                             rtol=1e-9, atol=1e-9)


def _ndcg_at_10(request, score, gain):
  """Mean NDCG@10 over the requests with a positive gain."""
  by_score = np.lexsort((-score, request))
  by_gain = np.lexsort((-gain, request))
  starts = np.flatnonzero(np.diff(request[by_score], prepend=-1))
  values = []
  for s, e in zip(starts, np.append(starts[1:], request.size)):
    g, ideal = gain[by_score[s:e]][:10], gain[by_gain[s:e]][:10]
    if ideal.sum() > 0:
      discount = 1.0 / np.log2(np.arange(2, g.size + 2))
      values.append(((2 ** g - 1) * discount).sum()
                    / ((2 ** ideal - 1) * discount).sum())
  return np.mean(values)


def test_fitted_fine_ranker_beats_popularity_at_ndcg10():
  cfg = worlds.world_config("learned_fine", num_requests=2000, seed=3)
  tables, world, _ = world_lib.generate(cfg)
  imp = tables[c.IMPRESSIONS].to_pandas()
  imp = imp[imp.exposed]
  burn = world.burn_in[c.IMPRESSIONS].to_pandas()
  popularity = burn[burn.exposed].item_id.value_counts()
  request = imp.request_id.str[1:].astype(int).to_numpy()
  gain = np.where(imp.purchased, 2.0, np.where(imp.clicked, 1.0, 0.0))
  pop = imp.item_id.map(popularity).fillna(0).to_numpy()
  fine = imp.fine_score.to_numpy()
  assert _ndcg_at_10(request, fine, gain) > _ndcg_at_10(request, pop,
                                                        gain) + 0.1
  # Not only through the position bias of its own order: with the known
  # position bias divided out of the gains, it still wins.
  debiased = gain * (1.0 + imp.position.to_numpy()) ** cfg.position_bias_power
  assert _ndcg_at_10(request, fine, debiased) > _ndcg_at_10(
      request, pop, debiased) + 0.05


def test_agreement_report_by_exposure_bucket(fitted):
  _, world, logs = fitted
  report = world.fine_agreement(logs)
  logged = np.unique(_concat(logs, "cand_request")).size
  assert report["all"]["candidates"] == logged * FITTED.retrieval_size
  assert sum(report[b]["candidates"] for b in ("never", "rare", "often")) == (
      report["all"]["candidates"])
  assert report["all"]["spearman"] > 0.2
  # The hand-made check of one bucket: items never shown in the burn-in.
  item, request = _concat(logs, "cand_item"), _concat(logs, "cand_request")
  never = world.fine_ranker.stats.exposures[item] == 0
  first = request == request[0]
  score, utility = (_concat(logs, f) for f in ("cand_fine_score",
                                                "cand_utility"))
  ranks = [np.argsort(np.argsort(x[never & first])) for x in (score, utility)]
  rho = np.corrcoef(*ranks)[0, 1]
  per_request = fitted_fine.agreement_by_exposure(
      request[first], score[first], utility[first],
      world.fine_ranker.stats.exposures[item][first])
  assert per_request["never"]["spearman"] == pytest.approx(rho, abs=1e-4)
