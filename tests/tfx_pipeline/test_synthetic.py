"""Tests of the synthetic search-log world: contract, determinism and simulated mechanisms."""

import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats

from components.raw_logs import contract as c
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import population
from tfx_pipeline.synthetic import world as world_lib
from tfx_pipeline.synthetic import write

CFG = config_lib.WorldConfig(num_requests=6000, num_items=2000,
                             requests_per_file=2500, seed=7)


@pytest.fixture(scope="module")
def generated():
  tables, world, logs = world_lib.generate(CFG)
  return tables, world, logs


@pytest.fixture(scope="module")
def frames(generated):
  tables, _, _ = generated
  return {name: t.to_pandas() for name, t in tables.items()}


def _concat(logs, field):
  return np.concatenate([getattr(l, field) for l in logs])


def test_written_tables_match_the_contract_exactly(tmp_path):
  cfg = config_lib.WorldConfig(num_requests=400, num_items=500,
                               requests_per_file=150, seed=1)
  summary = write.write_logs(str(tmp_path), cfg)
  for name, table in c.TABLES.items():
    files = sorted(os.listdir(c.table_dir(str(tmp_path), name)))
    assert files, name
    for f in files:
      schema = pq.read_schema(os.path.join(c.table_dir(str(tmp_path), name),
                                           f))
      assert [(x.name, x.type) for x in schema] == [
          (col.name, col.type) for col in table.columns], (name, f)
  # 400 requests in files of 150: three request files; candidate sets of
  # the newest 20% = 80 requests and of a 20% sample of the 320 others.
  assert len(os.listdir(c.table_dir(str(tmp_path), c.REQUESTS))) == 3
  assert summary["rows"][c.REQUESTS] == 400
  assert summary["rows"][c.IMPRESSIONS] == 400 * cfg.coarse_size
  assert summary["rows"][c.CANDIDATES] % cfg.retrieval_size == 0
  logged = summary["rows"][c.CANDIDATES] // cfg.retrieval_size
  assert 80 + 320 * 0.2 - 25 < logged < 80 + 320 * 0.2 + 25  # 3 sigma
  assert summary["rows"][c.ITEMS] == 500


def test_early_candidate_sets_are_a_sample_that_changes_nothing_else():
  base = dict(num_requests=1000, num_items=600, requests_per_file=400,
              seed=2)
  none, _, _ = world_lib.generate(config_lib.WorldConfig(
      **base, early_candidate_log_share=0.0))
  some, _, _ = world_lib.generate(config_lib.WorldConfig(
      **base, early_candidate_log_share=0.3))
  for name in c.TABLES:
    if name != c.CANDIDATES:
      assert none[name].equals(some[name]), name
  requests = some[c.REQUESTS].to_pandas().sort_values(c.TS)
  newest = set(requests[c.REQUEST_ID].iloc[-200:])
  only_newest = set(none[c.CANDIDATES][c.REQUEST_ID].to_pylist())
  assert only_newest == newest
  sets = some[c.CANDIDATES].to_pandas().groupby(c.REQUEST_ID)
  assert set(sets.size()) == {config_lib.WorldConfig().retrieval_size}
  early = set(sets.groups) - newest
  assert newest <= set(sets.groups)
  assert 800 * 0.3 - 45 < len(early) < 800 * 0.3 + 45  # 3 sigma
  # A logged set is the request's retrieval: the same rows as when only the
  # newest were logged.
  both = none[c.CANDIDATES].to_pandas()
  assert both.equals(some[c.CANDIDATES].to_pandas().pipe(
      lambda d: d[d[c.REQUEST_ID].isin(newest)]).reset_index(drop=True))


def test_refuses_to_overwrite_without_flag(tmp_path):
  cfg = config_lib.WorldConfig(num_requests=50, num_items=600, seed=1)
  write.write_logs(str(tmp_path), cfg)
  with pytest.raises(write.OutputNotEmptyError, match="--overwrite"):
    write.write_logs(str(tmp_path), cfg)
  summary = write.write_logs(str(tmp_path), cfg, overwrite=True)
  assert summary["rows"][c.REQUESTS] == 50


def test_deterministic_per_seed():
  cfg = config_lib.WorldConfig(num_requests=300, num_items=600,
                               requests_per_file=100, seed=3)
  a, _, _ = world_lib.generate(cfg)
  b, _, _ = world_lib.generate(cfg)
  other, _, _ = world_lib.generate(
      config_lib.WorldConfig(num_requests=300, num_items=600,
                             requests_per_file=100, seed=4))
  for name in c.TABLES:
    assert a[name].equals(b[name]), name
  assert not a[c.IMPRESSIONS].equals(other[c.IMPRESSIONS])
  assert not a[c.REQUESTS].equals(other[c.REQUESTS])


def test_ids_unique_and_references_resolve(frames):
  req, items, imp = frames[c.REQUESTS], frames[c.ITEMS], frames[c.IMPRESSIONS]
  assert req.request_id.is_unique and items.item_id.is_unique
  assert frames[c.USERS].user_id.is_unique
  known_items = set(items.item_id)
  for name in (c.IMPRESSIONS, c.CANDIDATES, c.TRANSACTIONS):
    assert set(frames[name].item_id) <= known_items, name
  assert set(imp.request_id) == set(req.request_id)
  assert set(frames[c.CANDIDATES].request_id) <= set(req.request_id)
  assert req.ts.is_monotonic_increasing
  assert ((req.ts >= CFG.start_ts) & (req.ts < CFG.end_ts)).all()
  history_items = {i for h in req.user_history for i in h}
  assert history_items <= known_items
  assert (req.user_history.map(len) == 0).any()


def test_funnel_retrieval_coarse_fine_exposure(frames):
  imp, cand = frames[c.IMPRESSIONS], frames[c.CANDIDATES]
  per_request = imp.groupby("request_id")
  assert (per_request.size() == CFG.coarse_size).all()
  assert (per_request.exposed.sum() == CFG.exposed_size).all()
  assert ((imp.position >= 0) == imp.exposed).all()
  # The exposed items are the top by fine score, in position order.
  for _, group in list(per_request)[:200]:
    by_score = group.sort_values("fine_score", ascending=False)
    assert list(by_score.position[:CFG.exposed_size]) == list(
        range(CFG.exposed_size))
    assert (by_score.position[CFG.exposed_size:] == -1).all()
  assert (imp.clicked <= imp.exposed).all()
  assert (imp.purchased <= imp.clicked).all()
  # Candidates: the newest 20% of requests (and a sample of the others), the
  # full retrieved set of 500 distinct items with a finite fine score,
  # holding every impression.
  logged = cand.groupby("request_id")
  newest = frames[c.REQUESTS].request_id[-int(0.2 * CFG.num_requests):]
  assert set(newest) <= set(logged.groups)
  assert (logged.item_id.nunique() == CFG.retrieval_size).all()
  assert np.isfinite(cand.fine_score).all()
  merged = imp[imp.request_id.isin(newest)].merge(
      cand, on=["request_id", "item_id"], suffixes=("", "_cand"))
  assert len(merged) == len(newest) * CFG.coarse_size
  np.testing.assert_allclose(merged.fine_score, merged.fine_score_cand)


def test_item_popularity_is_long_tailed(frames):
  counts = frames[c.IMPRESSIONS].item_id.value_counts().to_numpy()
  top_decile = counts[:CFG.num_items // 10].sum() / counts.sum()
  assert top_decile > 0.3
  # Many catalog items are rarely or never exposed.
  exposed = frames[c.IMPRESSIONS].query("exposed").item_id.value_counts()
  assert (exposed.reindex(frames[c.ITEMS].item_id, fill_value=0) == 0
          ).mean() > 0.2


def test_queries_follow_intents_over_categories(generated, frames):
  _, world, _ = generated
  words = population.CATEGORY_WORDS
  intent = world.arrivals.intent
  query_category = frames[c.REQUESTS]["query"].str.split().str[-1]
  np.testing.assert_array_equal(query_category, np.asarray(words)[intent])
  exposed = frames[c.IMPRESSIONS].query("exposed").merge(
      frames[c.ITEMS], on="item_id").merge(
          frames[c.REQUESTS][["request_id", "query"]], on="request_id")
  query_word = exposed["query"].str.split().str[-1]
  match = (exposed.category == query_word).mean()
  # Baseline: the same exposed items against other requests' queries.
  shuffled = np.random.default_rng(0).permutation(query_word.to_numpy())
  baseline = (exposed.category.to_numpy() == shuffled).mean()
  assert match > 0.3
  assert match > 3 * baseline


def test_users_keep_to_their_categories(generated):
  _, world, _ = generated
  user, intent = world.arrivals.user, world.arrivals.intent

  def top_category_share(intents):
    shares = []
    for u in np.unique(user):
      mine = intents[user == u]
      if mine.size >= 5:
        shares.append(np.bincount(mine).max() / mine.size)
    return np.mean(shares)

  # Baseline: the same intents dealt to users at random.
  shuffled = np.random.default_rng(0).permutation(intent)
  assert top_category_share(intent) > 1.3 * top_category_share(shuffled)


def test_fine_ranker_agrees_with_utility_on_head_not_tail(generated, frames):
  _, world, logs = generated
  cand = frames[c.CANDIDATES]
  utility = _concat(logs, "cand_utility")
  head = world.catalog.fine_confidence[_concat(logs, "cand_item")] > 0.5
  rho_head = stats.spearmanr(cand.fine_score[head], utility[head]).correlation
  rho_tail = stats.spearmanr(cand.fine_score[~head],
                             utility[~head]).correlation
  assert rho_head > 0.8
  assert rho_tail < rho_head - 0.3


def test_clicks_are_position_biased_and_purchases_follow_utility(
    frames, generated):
  _, _, logs = generated
  imp = frames[c.IMPRESSIONS].assign(utility=_concat(logs, "imp_utility"))
  exposed = imp[imp.exposed]
  # Divide out the utility term: click rate / E[sigmoid(U - t)] per position
  # is the position bias (1 + position)^-power.
  attraction = 1.0 / (1.0 + np.exp(-(exposed.utility - CFG.click_threshold)))
  by_pos = exposed.assign(a=attraction).groupby("position")
  bias = (by_pos.clicked.mean() / by_pos.a.mean()).to_numpy()
  slope, intercept = np.polyfit(np.log1p(np.arange(CFG.exposed_size)),
                                np.log(bias), 1)
  assert -slope == pytest.approx(CFG.position_bias_power, abs=0.1)
  assert intercept == pytest.approx(0.0, abs=0.1)
  clicked = imp[imp.clicked]
  assert (clicked[clicked.purchased].utility.mean()
          > clicked[~clicked.purchased].utility.mean() + 0.3)


def test_out_of_scene_purchases_fall_in_the_window(generated, frames):
  _, world, logs = generated
  tx = frames[c.TRANSACTIONS].assign(
      source=_concat(logs, "transaction_source"))
  req = frames[c.REQUESTS]
  other = tx[tx.scene != c.SEARCH_SCENE]
  caused = other[other.source >= 0]
  assert len(caused) > 0.2 * CFG.num_requests
  delay = caused.ts.to_numpy() - req.ts.to_numpy()[caused.source]
  assert ((delay > 0) & (delay < CFG.attribution_window_s)).all()
  np.testing.assert_array_equal(caused.user_id.to_numpy(),
                                req.user_id.to_numpy()[caused.source])
  # Each caused out-of-scene purchase is an item of the request that was
  # not shown.
  imp = frames[c.IMPRESSIONS]
  shown = set(zip(imp.request_id[imp.exposed], imp.item_id[imp.exposed]))
  pairs = zip(req.request_id.to_numpy()[caused.source], caused.item_id)
  assert not any(p in shown for p in pairs)
  # Background purchases (attribution noise) exist too.
  assert (other.source < 0).sum() > 0
  # In-search purchases are logged as transactions with scene "search".
  search = tx[tx.scene == c.SEARCH_SCENE]
  assert len(search) == frames[c.IMPRESSIONS].purchased.sum()


def test_wanted_items_are_bought_out_of_scene(generated, frames):
  _, _, logs = generated
  tx = frames[c.TRANSACTIONS].assign(
      source=_concat(logs, "transaction_source"),
      utility=_concat(logs, "transaction_utility"))
  caused = tx[(tx.scene != c.SEARCH_SCENE) & (tx.source >= 0)]
  # Out-of-scene purchases are the items the user wanted most: their hidden
  # utility is far above the typical retrieved candidate's.
  candidates = _concat(logs, "cand_utility")
  assert caused.utility.median() > np.percentile(candidates, 95)
  assert np.isnan(tx.utility[tx.source < 0]).all()


def test_shown_items_can_be_bought_out_of_scene_when_weighted():
  cfg = config_lib.WorldConfig(num_requests=1500, num_items=1000, seed=3,
                               out_of_scene_shown_weight=1.0)
  tables, _, logs = world_lib.generate(cfg)
  req = tables[c.REQUESTS].to_pandas()
  imp = tables[c.IMPRESSIONS].to_pandas()
  tx = tables[c.TRANSACTIONS].to_pandas().assign(
      source=_concat(logs, "transaction_source"))
  caused = tx[(tx.scene != c.SEARCH_SCENE) & (tx.source >= 0)]
  shown = set(zip(imp.request_id[imp.exposed], imp.item_id[imp.exposed]))
  of_shown = [p in shown for p in zip(
      req.request_id.to_numpy()[caused.source], caused.item_id)]
  # Shown items are 10 of 500 retrieved but the most wanted ones: with
  # equal weight they take a visible share, and not all of it.
  assert 0.01 < np.mean(of_shown) < 0.9


@pytest.mark.parametrize("kwargs, message", [
    (dict(out_of_scene_shown_weight=-1.0), "out_of_scene_shown_weight"),
    (dict(num_requests=0), "num_requests"),
    (dict(num_categories=30), "num_categories"),
    (dict(coarse_size=600), "exposed_size <= coarse_size"),
    (dict(candidate_log_share=1.5), "candidate_log_share"),
])
def test_config_rejects_bad_values(kwargs, message):
  with pytest.raises(ValueError, match=message):
    config_lib.WorldConfig(**kwargs)
