"""Tests of the per-request listwise functions: attribution, split, sampling, list and eval-set building."""

import tracemalloc

import numpy as np
import pytest
from scipy import stats

from components.listwise import attribution
from components.listwise import lists
from components.listwise import params as params_lib
from components.listwise import sampling
from components.listwise import split
from models import features as f

DAY = 86_400
CATALOG = {f"i{k}": (f"cat{k % 3}", f"brand{k % 4}", float(10 + k))
           for k in range(20)}


def _imp(item, score, position=-1, clicked=False, purchased=False):
  return lists.Impression(item, score, position >= 0, position, clicked,
                          purchased)


def _sampler(alpha=0.75, counts=None):
  ids = list(CATALOG)
  return sampling.NegativeSampler(ids, counts or [0] * len(ids), alpha, 1.0)


class TestAttribution:

  def test_inside_and_outside_the_window(self):
    requests = [(1000, "r1")]
    purchases = [(1000 + DAY - 1, "a"),   # inside
                 (1000 + DAY, "b"),       # exactly window after: inside
                 (1000 + DAY + 1, "c"),   # outside
                 (1000, "d"),             # same second as request: before
                 (999, "e")]              # before the request
    pairs, missed = attribution.attribute_purchases(requests, purchases, DAY)
    assert pairs == [("r1", "a"), ("r1", "b")]
    assert missed == 3

  def test_latest_of_two_candidate_requests_wins_once(self):
    requests = [(5000, "late"), (1000, "early")]
    pairs, missed = attribution.attribute_purchases(
        requests, [(6000, "x"), (3000, "y")], DAY)
    assert pairs == [("late", "x"), ("early", "y")]
    assert missed == 0

  def test_same_second_requests_take_the_largest_id(self):
    pairs, _ = attribution.attribute_purchases(
        [(100, "rb"), (100, "ra")], [(200, "x")], DAY)
    assert pairs == [("rb", "x")]

  def test_no_requests(self):
    assert attribution.attribute_purchases([], [(1, "x")], DAY) == ([], 1)


class TestSplit:

  def test_newest_whole_minutes_reach_the_share(self):
    # 10 requests: minutes 1..4 hold 4, 3, 2, 1 requests.
    counts = {1: 4, 2: 3, 3: 2, 4: 1}
    cut = split.newest_share_cut_ts
    assert cut(counts, 0.1) == 4 * 60
    assert cut(counts, 0.2) == 3 * 60  # 1 < 2 <= 1 + 2
    assert cut(counts, 0.3) == 3 * 60
    assert cut(counts, 0.35) == 2 * 60
    assert cut(counts, 1.0) == 1 * 60
    assert cut(counts, 0.0) == 5 * 60
    assert cut({}, 0.1) == 0

  def test_validation_split_is_just_before_eval(self):
    counts = {1: 4, 2: 3, 3: 2, 4: 1}
    # eval: minute 4 (10%); eval + valid: minutes 3, 4 (30% >= 0.1 + 0.2).
    assert split.cuts(counts, 0.1, 0.2) == split.Cuts(3 * 60, 4 * 60)
    assert split.cuts(counts, 0.1, 0.0) == split.Cuts(4 * 60, 4 * 60)
    assert split.cuts(counts, 0.0, 0.0) == split.Cuts(5 * 60, 5 * 60)

  def test_split_of(self):
    cuts = split.Cuts(valid_ts=120, eval_ts=240)
    assert cuts.split_of(119) == split.TRAIN
    assert cuts.split_of(120) == split.VALID
    assert cuts.split_of(239) == split.VALID
    assert cuts.split_of(240) == split.EVAL


class TestSampling:

  def test_request_rng_depends_on_seed_request_and_stream(self):
    draw = lambda *a: sampling.request_rng(*a).random(3).tolist()
    assert draw(1, "r1") == draw(1, "r1")
    assert draw(1, "r1") != draw(2, "r1")
    assert draw(1, "r1") != draw(1, "r2")
    assert draw(1, "r1") != draw(1, "r1", "eval")

  def test_probabilities(self):
    p = sampling.negative_probabilities(np.array([0, 1, 3]), 0.5, 1.0)
    np.testing.assert_allclose(p, np.array([1, 2 ** 0.5, 2]) /
                               (3 + 2 ** 0.5))
    np.testing.assert_allclose(
        sampling.negative_probabilities(np.array([0, 5, 50]), 0.0, 1.0),
        [1 / 3] * 3)
    with pytest.raises(ValueError, match="sum to zero"):
      sampling.negative_probabilities(np.zeros(3), 1.0, 0.0)

  def test_log_probability(self):
    sampler = _sampler(1.0, [0] * 19 + [3])  # weights 1 x 19 and 4.
    assert sampler.log_probability("i19") == pytest.approx(np.log(4 / 23))
    assert sampler.log_probability("i0") == pytest.approx(np.log(1 / 23))
    assert sampler.log_probability("nope") == -np.inf

  def test_distinct_and_never_excluded(self):
    rng = np.random.default_rng(0)
    exclude = {f"i{k}" for k in range(15)}
    got = _sampler().sample(rng, 10, exclude)
    assert sorted(got) == sorted(f"i{k}" for k in range(15, 20))

  def test_a_long_id_costs_only_its_own_size(self):
    """No fixed-width copy: 100 ids with one of 1 MB stay near 1 MB."""
    ids = [f"i{k}" for k in range(99)] + ["x" * 1_000_000]
    tracemalloc.start()
    try:
      sampler = sampling.NegativeSampler(ids, [1] * 100, 0.75, 1.0)
      _, peak = tracemalloc.get_traced_memory()
    finally:
      tracemalloc.stop()
    assert peak < 20_000_000  # A fixed-width copy took 400 MB.
    assert list(sampler.item_ids[-2:]) == ["i98", "x" * 1_000_000]

  @pytest.mark.parametrize("alpha", [0.75, 0.0])
  def test_distribution_matches_count_power_alpha(self, alpha):
    counts = [0, 1, 2, 5, 10, 20, 50, 100, 200, 400] + [3] * 10
    sampler = _sampler(alpha, counts)
    rng = np.random.default_rng(123)
    draws = [sampler.sample(rng, 1, ())[0] for _ in range(40_000)]
    observed = np.array([draws.count(i) for i in CATALOG])
    weights = (np.array(counts, dtype=float) + 1.0) ** alpha
    expected = weights / weights.sum() * len(draws)
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    uniform = np.full(len(counts), len(draws) / len(counts))
    if alpha > 0:
      assert stats.chisquare(observed, uniform).pvalue < 1e-6


class TestBuildList:

  def _request(self, **overrides):
    fields = dict(
        request_id="r7", user_id="u1", query="red shoes", ts=1234,
        history=["i19", "i18"], age_bucket=3, gender="f", purchase_power=2,
        impressions=[
            _imp("i2", 0.9, position=1, clicked=True),
            _imp("i1", 1.5, position=0, clicked=True, purchased=True),
            _imp("i3", 0.5, position=2),
            _imp("i4", 0.4), _imp("i5", 0.3), _imp("i6", 0.2),
            _imp("i7", 0.1)],
        attributed=["i9", "i3", "i5"])
    fields.update(overrides)
    return lists.RequestData(**fields)

  def test_exact_list(self):
    params = params_lib.ListwiseParams(list_size=12, num_unexposed=2,
                                       num_random=3, history_length=3,
                                       seed=11)
    item_stats = {"i1": (10, 4, 2), "i2": (5, 1, 0), "i3": (3, 0, 0),
                  "i5": (4, 1, 1), "i9": (7, 2, 1)}
    item_sales = {"i1": 6, "i3": 1, "i9": 3, "i7": 2}
    values, list_stats = lists.build_list(self._request(), CATALOG,
                                          _sampler(), params, item_stats,
                                          in_train=True,
                                          item_sales=item_sales)
    items = values[f.ITEM_ID]
    # Exposed by position; attributed i3 is exposed so only labelled; i5
    # (unexposed impression) and i9 (never shown) are out-of-scene entries.
    assert items[:5] == ["i1", "i2", "i3", "i5", "i9"]
    # Unexposed pool, sorted: i4, i6, i7 (i5 is attributed); two drawn with
    # the request's generator, in draw order.
    pool = ["i4", "i6", "i7"]
    rng = sampling.request_rng(11, "r7")
    picks = [pool[k] for k in rng.choice(3, size=2, replace=False)]
    assert items[5:7] == picks
    randoms = items[7:10]
    assert len(set(randoms)) == 3
    assert not set(randoms) & {"i1", "i2", "i3", "i4", "i5", "i6", "i7",
                               "i9"}
    assert items[10:] == ["", ""]
    assert values[f.SAMPLE_TYPE] == [1, 1, 1, 3, 3, 2, 2, 4, 4, 4, 0, 0]
    assert values[f.MASK] == [1] * 10 + [0, 0]
    assert values[f.LABEL_PURCHASE] == [1, 0, 1, 1, 1] + [0] * 7
    assert values[f.LABEL_CLICK] == [1, 1, 1, 1, 1] + [0] * 7
    assert values[f.LABEL_EXPOSURE] == [1, 1, 1, 1, 1] + [0] * 7
    scores = {"i1": 1.5, "i2": 0.9, "i3": 0.5, "i4": 0.4, "i5": 0.3,
              "i6": 0.2, "i7": 0.1}
    assert values[f.FINE_SCORE] == pytest.approx(
        [scores[i] for i in items[:4]] + [0.0] + [scores[i] for i in picks]
        + [0.0] * 5)
    assert values[f.FINE_SCORE_MASK] == [1, 1, 1, 1, 0, 1, 1] + [0] * 5
    # Random negatives carry log p(i) = log(1 / 20): every count is 0 here.
    assert values[f.SAMPLING_LOG_Q] == pytest.approx(
        [0.0] * 7 + [np.log(1 / 20)] * 3 + [0.0, 0.0])
    assert values[f.CATEGORY][:2] == ["cat1", "cat2"]
    assert values[f.BRAND][:2] == ["brand1", "brand2"]
    assert values[f.PRICE] == pytest.approx(
        [CATALOG[i][2] for i in items[:10]] + [0.0, 0.0])
    assert values[f.USER_HISTORY] == ["i19", "i18", ""]
    assert values[f.REQUEST_ID] == ["r7"]
    assert values[f.AGE_BUCKET] == [3] and values[f.GENDER] == ["f"]
    assert values[f.IN_TRAIN_COUNTS] == [1]
    assert list_stats == lists.ListStats(0, 0)
    # The request's own impressions leave its items' statistics: i1 was
    # exposed, clicked and bought, i2 exposed and clicked, i3 exposed; i5
    # (not exposed, no click) and i9 (no impression) keep theirs. Its own
    # purchases leave the sales: i1 (in search), i3, i5 and i9 (attributed;
    # i5 had none left, so 0, not -1).
    own_left_out = {"i1": (9, 3, 1, 5), "i2": (4, 0, 0, 0),
                    "i3": (2, 0, 0, 0), "i5": (4, 1, 1, 0),
                    "i9": (7, 2, 1, 2), "i7": (0, 0, 0, 2)}
    for k, key in enumerate(f.ITEM_STATS):
      assert values[key] == [float(own_left_out.get(i, (0, 0, 0, 0))[k])
                             for i in items[:10]] + [0.0, 0.0]
    # A validation or eval list sees them whole.
    whole, _ = lists.build_list(self._request(), CATALOG, _sampler(), params,
                                item_stats, in_train=False,
                                item_sales=item_sales)
    assert whole[f.ITEM_EXPOSURES][:3] == [10.0, 5.0, 3.0]
    assert whole[f.ITEM_SALES][:5] == [6.0, 0.0, 1.0, 0.0, 3.0]
    assert whole[f.ITEM_ID] == items
    assert whole[f.IN_TRAIN_COUNTS] == [0]

  def test_a_logged_candidate_set_gives_the_negatives(self):
    # i10..i15 are candidates the fine ranker never saw; i1, i4 (impressions)
    # and i9 (bought elsewhere) are candidates too but never negatives.
    logged = [(i, None) for i in ("i12", "i1", "i10", "i15", "i4", "i9",
                                  "i11", "i13", "i14", "i12")]
    req = self._request(logged_candidates=logged)
    params = params_lib.ListwiseParams(list_size=16, num_unexposed=2,
                                       num_random=3,
                                       num_candidate_negatives=4, seed=11)
    values, list_stats = lists.build_list(req, CATALOG, _sampler(), params,
                                          {}, in_train=True)
    pool = ["i10", "i11", "i12", "i13", "i14", "i15"]
    rng = sampling.request_rng(11, "r7")
    rng.choice(3, size=2, replace=False)  # The unexposed draw comes first.
    drawn = [pool[k] for k in rng.choice(6, size=4, replace=False)]
    assert values[f.ITEM_ID][7:11] == drawn
    assert values[f.SAMPLE_TYPE][7:] == [6] * 4 + [0] * 5
    assert values[f.SAMPLING_LOG_Q][7:11] == pytest.approx([np.log(1 / 6)] * 4)
    assert values[f.LABEL_EXPOSURE][7:11] == [0] * 4
    assert values[f.FINE_SCORE_MASK][7:11] == [0] * 4
    assert list_stats.candidate_negatives == 4
    # Fewer candidates left than asked for: every one of them.
    values, list_stats = lists.build_list(
        req, CATALOG, _sampler(),
        params_lib.ListwiseParams(num_candidate_negatives=50), {}, False)
    assert sorted(i for i, t in zip(values[f.ITEM_ID],
                                    values[f.SAMPLE_TYPE]) if t == 6) == pool
    assert f.SAMPLE_RANDOM not in values[f.SAMPLE_TYPE]

  def test_same_seed_same_list_other_seed_other_negatives(self):
    params = params_lib.ListwiseParams(num_random=5, seed=1)
    a, _ = lists.build_list(self._request(), CATALOG, _sampler(), params,
                            {}, False)
    b, _ = lists.build_list(self._request(), CATALOG, _sampler(), params,
                            {}, False)
    c, _ = lists.build_list(
        self._request(), CATALOG, _sampler(),
        params_lib.ListwiseParams(num_random=5, seed=2), {}, False)
    assert a == b
    assert a[f.ITEM_ID] != c[f.ITEM_ID]

  def test_truncation_drops_randoms_then_unexposed(self):
    params = params_lib.ListwiseParams(list_size=6, num_unexposed=2,
                                       num_random=3)
    values, list_stats = lists.build_list(self._request(), CATALOG,
                                          _sampler(), params, {}, False)
    assert values[f.SAMPLE_TYPE] == [1, 1, 1, 3, 3, 2]
    assert list_stats.truncated_items == 4

  def test_duplicate_impressions_are_merged(self):
    req = self._request(impressions=[
        _imp("i1", 0.5), _imp("i1", 0.7, position=0, clicked=True),
        _imp("i2", 0.1)], attributed=[])
    params = params_lib.ListwiseParams(num_random=0)
    values, list_stats = lists.build_list(req, CATALOG, _sampler(), params,
                                          {"i1": (3, 2, 0)}, in_train=True)
    assert values[f.ITEM_ID][:2] == ["i1", "i2"]
    # Its two impressions count once: one exposure and one click.
    assert values[f.ITEM_EXPOSURES][0] == 2.0
    assert values[f.ITEM_CLICKS][0] == 1.0
    assert values[f.FINE_SCORE][0] == pytest.approx(0.7)
    assert values[f.LABEL_CLICK][0] == 1
    assert list_stats.merged_impressions == 1

  def test_items_sharing_a_position_stay_exposed_and_are_counted(self):
    # i3 and i2 are both shown at position 0, i5 and i4 at 1, i1 alone at 2;
    # i2 also a second time at 2 (merged to its best position, 0).
    req = self._request(impressions=[
        _imp("i3", 0.5, position=0), _imp("i2", 0.9, position=0,
                                          clicked=True),
        _imp("i5", 0.4, position=1), _imp("i4", 0.3, position=1),
        _imp("i1", 0.2, position=2), _imp("i2", 0.9, position=2)],
                        attributed=[])
    params = params_lib.ListwiseParams(list_size=6, num_random=0)
    values, list_stats = lists.build_list(req, CATALOG, _sampler(), params,
                                          {}, in_train=False)
    # Ties at a position are ordered by item id; every item keeps its labels.
    assert values[f.ITEM_ID] == ["i2", "i3", "i4", "i5", "i1", ""]
    assert values[f.LABEL_EXPOSURE] == [1, 1, 1, 1, 1, 0]
    assert values[f.LABEL_CLICK] == [1, 0, 0, 0, 0, 0]
    # One item too many at position 0 and one at position 1.
    assert list_stats.shared_positions == 2
    assert list_stats.merged_impressions == 1
    assert list_stats.counts() == {"merged_duplicate_impressions": 1,
                                   "truncated_items": 0,
                                   "shared_position_items": 2,
                                   "candidate_negatives": 0}

  def test_list_without_positives(self):
    req = self._request(impressions=[_imp("i1", 0.2, position=0)],
                        attributed=[])
    values, _ = lists.build_list(req, CATALOG, _sampler(),
                                 params_lib.ListwiseParams(num_random=2), {},
                                 False)
    assert sum(values[f.LABEL_PURCHASE]) == 0
    assert sum(values[f.LABEL_CLICK]) == 0
    assert sum(values[f.MASK]) == 3


# Train query counts of the yardstick tests, by hand: "red shoes" had one
# click on cat1/brand1 and one on cat2/brand2; "shoes" alone one on cat1.
QUERY_COUNTS = {
    ("token", "red"): 2, ("category", "red", "cat1"): 1,
    ("category", "red", "cat2"): 1, ("brand", "red", "brand1"): 1,
    ("brand", "red", "brand2"): 1,
    ("token", "shoes"): 3, ("category", "shoes", "cat1"): 2,
    ("category", "shoes", "cat2"): 1, ("brand", "shoes", "brand1"): 2,
    ("brand", "shoes", "brand2"): 1}
TRAIN_COUNTS = lists.TrainCounts(
    item_stats={"i1": (7, 2, 1)}, item_sales={"i1": 4, "i4": 1},
    query=QUERY_COUNTS, num_categories=3, num_brands=4)


class TestEvalCandidates:

  def test_logged_candidates_are_the_set(self):
    req = lists.RequestData(
        "r1", "u1", "red shoes red", 10, ["i4", "i7", "nope", "i2"],
        impressions=[
            _imp("i1", 0.9, position=0, clicked=True, purchased=True),
            _imp("i2", 0.5)],
        attributed=["i3", "i8"],
        logged_candidates=[("i1", 0.9), ("i2", 0.5), ("i3", None),
                           ("i4", 0.1), ("nope", 0.2)])
    out = lists.build_eval_candidates(req, _sampler(0.0), TRAIN_COUNTS,
                                      CATALOG, params_lib.ListwiseParams())
    assert out[f.CAND_ITEM_ID] == ["i1", "i2", "i3", "i4", "nope"]
    assert out[f.CAND_FINE_SCORE] == pytest.approx([0.9, 0.5, 0.0, 0.1, 0.2])
    assert out[f.CAND_FINE_SCORE_MASK] == [1, 1, 0, 1, 1]
    assert out[f.CAND_EXPOSED] == [1, 0, 0, 0, 0]
    assert out[f.CAND_PURCHASE_IN_SCENE] == [1, 0, 0, 0, 0]
    assert out[f.CAND_PURCHASE_OUT_OF_SCENE] == [0, 0, 1, 0, 0]
    assert out[f.CAND_TRAIN_EXPOSURES] == [7, 0, 0, 0, 0]
    assert out[f.CAND_TRAIN_SALES] == [4, 0, 0, 1, 0]
    assert out[f.CANDIDATES_LOGGED] == [1]
    assert out[f.PURCHASES_OUTSIDE_CANDIDATES] == [1]  # i8
    # The yardstick's counts, by hand. Distinct tokens "red", "shoes";
    # categories: i1 cat1, i2 cat2, i3 cat0, i4 cat1, "nope" unknown ("").
    log_cat = {
        "cat1": (np.log(2 / 5) + np.log(3 / 6)) / 2,
        "cat2": (np.log(2 / 5) + np.log(2 / 6)) / 2,
        "cat0": (np.log(1 / 5) + np.log(1 / 6)) / 2,
        "": (np.log(1 / 5) + np.log(1 / 6)) / 2}
    assert out[f.CAND_QUERY_CATEGORY_LOG_SHARE] == pytest.approx(
        [log_cat[c] for c in ("cat1", "cat2", "cat0", "cat1", "")])
    # Brands: i1 brand1, i2 brand2, i3 brand3, i4 brand0.
    log_brand = {
        "brand1": (np.log(2 / 6) + np.log(3 / 7)) / 2,
        "brand2": (np.log(2 / 6) + np.log(2 / 7)) / 2,
        "brand3": (np.log(1 / 6) + np.log(1 / 7)) / 2,
        "brand0": (np.log(1 / 6) + np.log(1 / 7)) / 2}
    assert out[f.CAND_QUERY_BRAND_LOG_SHARE] == pytest.approx(
        [log_brand[b] for b in ("brand1", "brand2", "brand3", "brand0")]
        + [log_brand["brand0"]])
    # History: i4 cat1, i7 cat1, i2 cat2 ("nope" is not in the catalog).
    assert out[f.CAND_HISTORY_CATEGORY_SHARE] == pytest.approx(
        [2 / 3, 1 / 3, 0.0, 2 / 3, 0.0])

  def test_no_token_and_no_history_give_uniform_shares_and_zero(self):
    req = lists.RequestData("r1", "u1", "  ", 10, [], impressions=[
        _imp("i1", 0.9, position=0)], logged_candidates=[("i1", 0.9)])
    out = lists.build_eval_candidates(req, _sampler(0.0), TRAIN_COUNTS,
                                      CATALOG, params_lib.ListwiseParams())
    assert out[f.CAND_QUERY_CATEGORY_LOG_SHARE] == pytest.approx(
        [np.log(1 / 3)])
    assert out[f.CAND_QUERY_BRAND_LOG_SHARE] == pytest.approx([np.log(1 / 4)])
    assert out[f.CAND_HISTORY_CATEGORY_SHARE] == [0.0]

  def test_built_from_impressions_and_uniform_catalog_items(self):
    req = lists.RequestData("r1", "u1", "q", 10, [], impressions=[
        _imp("i2", 0.5), _imp("i1", 0.9, position=0)])
    params = params_lib.ListwiseParams(num_eval_random=4, seed=5)
    out = lists.build_eval_candidates(req, _sampler(0.0), TRAIN_COUNTS,
                                      CATALOG, params)
    assert out[f.CAND_ITEM_ID][:2] == ["i1", "i2"]
    extra = out[f.CAND_ITEM_ID][2:]
    assert len(set(extra)) == 4 and not set(extra) & {"i1", "i2"}
    assert out[f.CAND_FINE_SCORE_MASK] == [1, 1, 0, 0, 0, 0]
    assert out[f.CANDIDATES_LOGGED] == [0]


def test_request_query_counts_count_each_positive_item_once_per_token():
  req = lists.RequestData("r", "u", "red shoes red", 1, [], impressions=[
      _imp("i1", 0.1, position=0, clicked=True),
      _imp("i1", 0.1, position=3, clicked=True, purchased=True),
      _imp("i5", 0.1, position=1), _imp("i7", 0.1, position=2,
                                         clicked=True),
      _imp("nope", 0.1, position=4, clicked=True)], attributed=["i2"])
  # Positives: i1 (cat1, brand1) once, i7 (cat1, brand3); "nope" is not in
  # the catalog and i2 was bought elsewhere, not clicked in an impression.
  assert lists.request_query_counts(req, CATALOG) == {
      ("token", "red"): 2, ("category", "red", "cat1"): 2,
      ("brand", "red", "brand1"): 1, ("brand", "red", "brand3"): 1,
      ("token", "shoes"): 2, ("category", "shoes", "cat1"): 2,
      ("brand", "shoes", "brand1"): 1, ("brand", "shoes", "brand3"): 1}
  assert lists.request_query_counts(lists.RequestData(
      "r", "u", "red", 1, [], impressions=[_imp("i1", 0.1, position=0)]),
                                    CATALOG) == {}


def test_valid_candidate_lists_chunk_the_set_with_its_purchases():
  req = lists.RequestData(
      "r3", "u1", "shoes", 10, ["i4"], impressions=[
          _imp("i1", 0.9, position=0, clicked=True, purchased=True),
          _imp("i2", 0.5, position=1)],
      attributed=["i3"],
      logged_candidates=[(f"i{k}", 0.1 * k) for k in range(1, 8)])
  params = params_lib.ListwiseParams(list_size=3, history_length=2)
  chunks = list(lists.valid_candidate_lists(req, _sampler(0.0), TRAIN_COUNTS,
                                            CATALOG, params))
  assert [c[f.ITEM_ID] for c in chunks] == [
      ["i1", "i2", "i3"], ["i4", "i5", "i6"], ["i7", "", ""]]
  first, _, last = chunks
  assert first[f.LABEL_PURCHASE] == [1, 0, 1]
  assert first[f.LABEL_CLICK] == [1, 0, 1]
  assert first[f.LABEL_EXPOSURE] == [1, 1, 1]
  assert first[f.FINE_SCORE] == pytest.approx([0.1, 0.2, 0.3])
  assert first[f.ITEM_EXPOSURES] == [7.0, 0.0, 0.0]
  assert first[f.ITEM_SALES] == [4.0, 0.0, 0.0]
  assert last[f.MASK] == [1, 0, 0]
  assert last[f.SAMPLE_TYPE] == [f.SAMPLE_CANDIDATE, f.SAMPLE_PAD,
                                 f.SAMPLE_PAD]
  for chunk in chunks:
    assert chunk[f.REQUEST_ID] == ["r3"] and chunk[f.QUERY] == ["shoes"]
    assert chunk[f.USER_HISTORY] == ["i4", ""]
    assert chunk[f.IN_TRAIN_COUNTS] == [0]


def test_catalog_lists_hold_every_item_once_with_whole_statistics():
  params = params_lib.ListwiseParams(list_size=8, history_length=2)
  chunks = list(lists.catalog_lists(CATALOG, {"i3": (4, 1, 1)}, params,
                                    {"i3": 5}))
  assert len(chunks) == 3  # 20 items, 8 per example.
  items = [i for c in chunks for i in c[f.ITEM_ID]]
  assert items == sorted(CATALOG) + [""] * 4
  last = chunks[-1]
  assert last[f.MASK] == [1] * 4 + [0] * 4
  assert last[f.SAMPLE_TYPE] == [f.SAMPLE_CATALOG] * 4 + [f.SAMPLE_PAD] * 4
  assert last[f.CATEGORY][:4] == [CATALOG[i][0] for i in items[16:20]]
  assert last[f.PRICE][:4] == pytest.approx(
      [CATALOG[i][2] for i in items[16:20]])
  (holder,) = [c for c in chunks if "i3" in c[f.ITEM_ID]]
  k = holder[f.ITEM_ID].index("i3")
  assert (holder[f.ITEM_EXPOSURES][k], holder[f.ITEM_CLICKS][k],
          holder[f.ITEM_PURCHASES][k], holder[f.ITEM_SALES][k]) == (
              4.0, 1.0, 1.0, 5.0)
  assert sum(sum(c[f.ITEM_EXPOSURES]) for c in chunks) == 4.0
  for chunk in chunks:
    assert chunk[f.USER_ID] == [""] and chunk[f.USER_HISTORY] == ["", ""]
    for key in f.LABELS:
      assert set(chunk[key]) == {0}
    assert all(len(chunk[key]) == 8 for key in f.LIST_STRING_FEATURES)


def test_request_item_stats_and_their_sum():
  req = lists.RequestData("r", "u", "q", 1, [], impressions=[
      _imp("a", 0.1, position=0, clicked=True, purchased=True),
      _imp("b", 0.1), _imp("a", 0.2), _imp("c", 0.1, position=1)])
  own = lists.request_item_stats(req)
  assert own == {"a": (1, 1, 1), "c": (1, 0, 0)}  # b: nothing happened.
  assert lists.sum_stats([(1, 1, 1), (1, 0, 0), (2, 3, 4)]) == (4, 4, 5)
  req.attributed = ["d", "a"]
  assert lists.request_sales(req) == {"a": 1, "d": 1}


def test_params_json_round_trip_and_validation():
  params = params_lib.ListwiseParams(alpha=0.0, num_random=3, seed=9)
  assert params_lib.ListwiseParams.from_json(params.to_json()) == params
  with pytest.raises(ValueError, match="unknown listwise parameters"):
    params_lib.ListwiseParams.from_json('{"nope": 1}')
  with pytest.raises(ValueError,
                     match=r"eval_share must be in \[0, 1\], got 2.0"):
    params_lib.ListwiseParams(eval_share=2.0)
  with pytest.raises(ValueError, match="alpha must be >= 0, got -1"):
    params_lib.ListwiseParams(alpha=-1)
  with pytest.raises(ValueError, match="list_size must be >= 1, got 0"):
    params_lib.ListwiseParams(list_size=0)
  with pytest.raises(ValueError, match="eval_share \\+ valid_share"):
    params_lib.ListwiseParams(eval_share=0.6, valid_share=0.5)
