"""Tests of the hitrate and NDCG metric functions and the blessing decision, on hand-computed cases."""

import math

import numpy as np
import pytest

from components.validation import blessing
from components.validation import metrics
from components.validation import scorers
from models import cutoffs
from models.metrics import candidate_sets


def _set(items, in_scene=(), out_scene=(), exposures=None, fine=None):
  items = np.array(items)
  n = items.shape[0]
  return metrics.EvalSet(
      request_id="r", item_ids=items,
      in_scene=np.isin(items, list(in_scene)),
      out_of_scene=np.isin(items, list(out_scene)),
      train_exposures=np.array(exposures if exposures is not None
                               else [0] * n),
      fine_score=np.array(fine if fine is not None else [0.0] * n))


class TestExpectedHits:

  def test_no_ties(self):
    scores = np.array([0.9, 0.1, 0.5, 0.7])
    positive = np.array([False, True, True, False])
    assert candidate_sets.expected_hits(scores, positive, 1) == 0.0
    assert candidate_sets.expected_hits(scores, positive, 3) == 1.0  # .9 .7 .5
    assert candidate_sets.expected_hits(scores, positive, 4) == 2.0

  def test_ties_at_the_cutoff_count_in_expectation(self):
    # Top-2 of scores 3, 1, 1, 1: one slot left for a group of three tied
    # items holding one positive: 1/3 expected hit.
    scores = np.array([3.0, 1.0, 1.0, 1.0])
    positive = np.array([False, True, False, False])
    assert candidate_sets.expected_hits(scores, positive, 2) == pytest.approx(1 / 3)
    # Two slots in the group of three, two positives: 2 * 2/3.
    positive = np.array([False, True, True, False])
    assert candidate_sets.expected_hits(scores, positive, 3) == pytest.approx(4 / 3)

  def test_k_larger_than_the_set_and_nan_scores(self):
    positive = np.array([True, False, True])
    assert candidate_sets.expected_hits(np.array([1.0, 2.0, 3.0]), positive,
                                 10) == 2.0
    # NaN ranks last: top-2 of (nan, 2, 3) are the 2nd and 3rd items.
    assert candidate_sets.expected_hits(np.array([np.nan, 2.0, 3.0]), positive,
                                 2) == 1.0


def test_dedupe_keeps_the_best_score_and_unions_labels():
  best, label = metrics.dedupe(np.array(["a", "b", "a"]),
                               np.array([0.1, 0.5, 0.9]),
                               np.array([True, False, False]))
  np.testing.assert_allclose(best, [0.9, 0.5])  # "a", "b"
  np.testing.assert_array_equal(label, [True, False])


def test_hitrate_slices_by_hand():
  sets = [
      # Scores put b, c first; a (bought in search) 3rd, d (elsewhere) 4th.
      _set(["a", "b", "c", "d"], in_scene=["a"], out_scene=["d"],
           exposures=[10, 0, 5, 0]),
      # One purchase elsewhere at the top.
      _set(["x", "y"], out_scene=["x"], exposures=[0, 20]),
      # No purchase: contributes nothing.
      _set(["p", "q"]),
  ]
  scores = [np.array([0.3, 0.9, 0.8, 0.1]), np.array([0.7, 0.2]),
            np.array([0.5, 0.4])]
  table = metrics.hitrate(sets, scores, ks=["1", "3", "10"],
                          head_min_exposures=5)
  # Purchases: a (in scene, head), d (out, tail), x (out, tail).
  assert table["global"] == {"1": pytest.approx(1 / 3),
                             "3": pytest.approx(2 / 3), "10": 1.0}
  assert table["in_scene"] == {"1": 0.0, "3": 1.0, "10": 1.0}
  assert table["out_of_scene"] == {"1": 0.5, "3": 0.5, "10": 1.0}
  assert table["head"] == {"1": 0.0, "3": 1.0, "10": 1.0}
  assert table["tail"] == {"1": 0.5, "3": 0.5, "10": 1.0}


def test_hitrate_at_a_share_takes_k_per_set():
  # Sets of 4, 2 and 10 distinct candidates; 50% keeps 2, 1 and 5 of them.
  sets = [_set(["a", "b", "c", "d"], in_scene=["c"]),
          _set(["x", "y"], out_scene=["y"]),
          _set([f"i{k}" for k in range(10)] + ["i0"], in_scene=["i4", "i6"])]
  scores = [np.array([0.9, 0.8, 0.7, 0.1]), np.array([0.2, 0.1]),
            np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0], float)]
  # c is 3rd of 4 (out of 2), y 2nd of 2 (out of 1), i4 5th of 10 (in of
  # 5, the duplicate i0 counted once), i6 7th (out): 1 hit of 4 purchases.
  # K = 3 for every set: c and y are in, i4 and i6 out.
  table = metrics.hitrate(sets, scores, ks=["50%", "3"], head_min_exposures=1)
  assert table["global"] == {"50%": pytest.approx(1 / 4),
                             "3": pytest.approx(2 / 4)}


@pytest.mark.parametrize("text,num_candidates,k", [
    ("100", 7, 100), ("5%", 2000, 100), ("5%", 500, 25), ("1%", 30, 1),
    ("25%", 10, 3), ("100%", 9, 9), (" 10 ", 1, 10), ("2.5%", 100, 3)])
def test_cutoff_k_per_candidate_set(text, num_candidates, k):
  assert cutoffs.parse(text).k(num_candidates) == k


@pytest.mark.parametrize("text", ["0", "-3", "0%", "101%", "ten", "5 %%",
                                  "1.5", ""])
def test_bad_cutoffs_are_named(text):
  with pytest.raises(ValueError, match="a cutoff is a positive integer"):
    cutoffs.parse(text)


def test_cutoffs_are_ordered_counts_then_shares_once_each():
  assert cutoffs.ordered(["5%", "100", "10", "1%", "100", "5.0%"]) == (
      "10", "100", "1%", "5%")


def test_yardsticks_score_from_the_set_s_own_counts_and_ties_count_in_expectation():
  sets = [_set(["a", "b", "c", "d"], in_scene=["c"],
               exposures=[7, 0, 7, 2]),
          _set(["e", "a", "f"], out_scene=["e"], exposures=[0, 7, 1])]
  sets[0].train_sales = np.array([3, 0, 1, 0])
  sets[0].query_category_log_share = np.log([0.5, 0.25, 0.5, 0.1])
  sets[0].query_brand_log_share = np.log([0.2, 0.2, 0.4, 0.4])
  sets[0].history_category_share = np.array([0.0, 1.0, 0.5, 0.0])
  got = scorers.yardstick_scores(sets[0])
  np.testing.assert_array_equal(got[scorers.POPULARITY], [7, 0, 7, 2])
  np.testing.assert_array_equal(got[scorers.SALES], [3, 0, 1, 0])
  # log .5 + log .2 + .3 log 8 + .3 log 4 + log 1, ... by hand.
  np.testing.assert_allclose(got[scorers.COUNTS], [
      np.log(0.5) + np.log(0.2) + 0.3 * np.log(8) + 0.3 * np.log(4),
      np.log(0.25) + np.log(0.2) + np.log(2.0),
      np.log(0.5) + np.log(0.4) + 0.3 * np.log(8) + 0.3 * np.log(2)
      + np.log(1.5),
      np.log(0.1) + np.log(0.4) + 0.3 * np.log(3)])
  # A set without the counts' columns scores 0 sales and 0 shares.
  np.testing.assert_array_equal(
      scorers.yardstick_scores(sets[1])[scorers.SALES], [0, 0, 0])
  # K = 1 by popularity: a and c tie at 7, so c is in the top 1 half of the
  # time; e (no exposure) is last of its set.
  table = metrics.hitrate(
      sets, [scorers.yardstick_scores(s)[scorers.POPULARITY] for s in sets],
      ["1", "2"], head_min_exposures=1)
  assert table["global"] == {"1": pytest.approx(0.25), "2": 0.5}


def test_candidate_set_hitrate_groups_entries_by_request():
  # r1: 4 candidates, 5% -> K 1; r2: 20 candidates -> K 1; r3: no purchase.
  keys = ["r1"] * 4 + ["r2"] * 20 + ["r3"] * 2
  scores = np.concatenate([[0.9, 0.1, 0.5, 0.7], np.arange(20.0), [1, 2]])
  bought = np.zeros(26, bool)
  bought[[0, 2]] = True  # r1: the best and the third.
  bought[4 + 18] = True  # r2: the second best (K = 2 takes it).
  assert candidate_sets.hitrate(keys, scores, bought, "5%") == (
      pytest.approx(1 / 3))
  assert candidate_sets.hitrate(keys, scores, bought, "2") == (
      pytest.approx(2 / 3))
  order = np.random.default_rng(0).permutation(26)
  assert candidate_sets.hitrate(np.array(keys)[order], scores[order],
                                bought[order], "5%") == pytest.approx(1 / 3)
  assert math.isnan(candidate_sets.hitrate(keys, scores,
                                           np.zeros(26, bool), "5%"))


def test_hitrate_without_purchases_is_nan():
  table = metrics.hitrate([_set(["a", "b"])], [np.array([1.0, 0.0])],
                          ks=["1"], head_min_exposures=1)
  assert all(math.isnan(row["1"]) for name, row in table.items()
             if name != metrics.FINE_TOP10)
  assert metrics.as_json(table)["global"] == {"1": None}
  # Both are the fine ranker's top (fine scores 0, 0); the top 1 keeps one.
  assert table[metrics.FINE_TOP10]["1"] == 0.5


def test_hitrate_with_duplicate_candidates():
  # "a" twice: once low, once high; it is one candidate with the high score.
  sets = [_set(["a", "b", "a"], in_scene=["a"])]
  table = metrics.hitrate(sets, [np.array([0.0, 0.5, 0.9])], ks=["1"],
                          head_min_exposures=1)
  assert table["global"]["1"] == 1.0


def test_head_threshold_takes_the_most_exposed_share():
  sets = [_set(["a", "b", "c", "d", "e"], exposures=[50, 10, 3, 0, 0])]
  assert metrics.head_threshold(sets, 0.2) == 50  # top 1 of 5 items
  assert metrics.head_threshold(sets, 0.4) == 10
  assert metrics.head_threshold(sets, 1.0) == 1  # at least one exposure


def test_head_threshold_of_a_histogram_by_hand():
  # 5 items: one with 50 exposures, one with 10, one with 3, two with 0.
  histogram = {50: 1, 10: 1, 3: 1, 0: 2}
  assert metrics.head_threshold_of_histogram(histogram, 0.2) == 50
  assert metrics.head_threshold_of_histogram(histogram, 0.4) == 10
  assert metrics.head_threshold_of_histogram(histogram, 0.5) == 3  # 3rd of 5
  assert metrics.head_threshold_of_histogram(histogram, 1.0) == 1
  # Two items tied at 7 fill the top 2 of 4.
  assert metrics.head_threshold_of_histogram({9: 1, 7: 2, 1: 1}, 0.5) == 7
  assert metrics.head_threshold_of_histogram({}, 0.2) == 1  # no candidate


def test_set_hits_by_hand_add_up_to_the_hitrate():
  first = _set(["a", "b", "c", "d"], in_scene=["a"], out_scene=["d"],
               exposures=[10, 0, 5, 0])
  second = _set(["x", "y"], out_scene=["x"], exposures=[0, 20])
  parsed = [cutoffs.parse("1"), cutoffs.parse("3")]
  hits = metrics.set_hits(first, np.array([0.2, 0.9, 0.8, 0.1]), parsed, 5)
  # Rows: global, in_scene, out_of_scene, head, tail, fine_top10; columns:
  # @1, @3, purchases. a (head, in scene) is 3rd, d (tail, elsewhere) 4th;
  # all four are the fine ranker's top 10.
  np.testing.assert_array_equal(hits, [[0, 1, 2], [0, 1, 1], [0, 0, 1],
                                       [0, 1, 1], [0, 0, 1], [1, 3, 4]])
  total = hits + metrics.set_hits(second, np.array([1.0, 0.0]), parsed, 5)
  assert metrics.rates(total, ["1", "3"])["global"] == {"1": 1 / 3,
                                                        "3": 2 / 3}
  assert metrics.rates(total, ["1", "3"])["head"] == {"1": 0.0, "3": 1.0}


def test_stage_consistency_is_the_share_of_the_fine_top_kept():
  # 13 candidates, one listed twice (its higher fine score counts), one
  # without a fine score. Fine top 10: i00..i09 (fine 12..3), not i10, i11
  # (fine 2, 1) nor n (none).
  items = [f"i{j:02d}" for j in range(12)] + ["n", "i11"]
  fine = [12.0 - j for j in range(12)] + [np.nan, 0.5]
  top = metrics.fine_top(_set(items, fine=fine))
  # dedupe's order: i00..i11, n.
  assert top.tolist() == [True] * 10 + [False, False, False]
  # The scorer ranks n, i11, i10 first, then i00..i09 in reverse.
  score = np.array([float(j) for j in range(12)] + [100.0, 50.0])
  score[10], score[11] = 60.0, 55.0
  hits = metrics.set_hits(_set(items, fine=fine), score,
                          [cutoffs.parse("3"), cutoffs.parse("5")], 1)
  # Top 3: n, i10, i11: no fine top item; top 5 adds i09, i08.
  np.testing.assert_array_equal(hits[metrics.SLICES.index("fine_top10")],
                                [0, 2, 10])
  # A set without fine scores has no fine top.
  assert not metrics.fine_top(_set(["a", "b"], fine=[np.nan] * 2)).any()


def test_ndcg_sums_of_batches_add_up_to_the_mean():
  gains = [np.array([0, 2, 1]), np.array([0, 0]), np.array([1, 0])]
  scores = [np.array([0.9, 0.5, 0.1]), np.array([1.0, 0.0]),
            np.array([0.0, 1.0])]
  sums = (metrics.ndcg_sums(gains[:2], scores[:2], 10)
          + metrics.ndcg_sums(gains[2:], scores[2:], 10))
  assert sums[1] == 2  # the list without a gain does not count
  assert metrics.ndcg_of_sums(sums) == pytest.approx(
      metrics.ndcg_at_k(gains, scores, 10))
  assert math.isnan(metrics.ndcg_of_sums(metrics.ndcg_sums([], [], 10)))


def test_ndcg_by_hand():
  gains = [np.array([0, 2, 1]), np.array([0, 0])]
  scores = [np.array([0.9, 0.5, 0.1]), np.array([1.0, 0.0])]
  dcg = (2 ** 2 - 1) / np.log2(3) + (2 ** 1 - 1) / np.log2(4)
  idcg = (2 ** 2 - 1) / np.log2(2) + (2 ** 1 - 1) / np.log2(3)
  assert metrics.ndcg_at_k(gains, scores, 10) == pytest.approx(dcg / idcg)
  # k = 1: the top item has gain 0.
  assert metrics.ndcg_at_k(gains, scores, 1) == 0.0
  assert math.isnan(metrics.ndcg_at_k([np.array([0, 0])],
                                      [np.array([1.0, 0.0])], 10))


def _oracle_ndcg(gains, scores, k):
  """NDCG@k in NumPy, list by list: stable order on ties, NaN scores last."""
  values = []
  for gain, score in zip(gains, scores):
    gain = np.asarray(gain, dtype=float)
    ideal = np.sort(gain)[::-1][:k]
    discounts = 1.0 / np.log2(np.arange(2, ideal.shape[0] + 2))
    idcg = float(((2.0 ** ideal - 1.0) * discounts).sum())
    if idcg <= 0:
      continue
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:k]
    values.append(float(((2.0 ** gain[order] - 1.0)
                         * discounts[:order.shape[0]]).sum()) / idcg)
  return float(np.mean(values)) if values else float("nan")


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_matches_a_numpy_oracle_on_ragged_lists(k):
  rng = np.random.default_rng(k)
  lengths = rng.integers(0, 12, 40)
  gains = [rng.integers(0, 3, n) * (rng.random() < 0.7) for n in lengths]
  # Few distinct values, so ties are frequent; some NaN and -inf scores.
  scores = [rng.choice([0.0, 0.5, 1.0, np.nan, -np.inf], n,
                       p=[0.3, 0.3, 0.3, 0.05, 0.05]) for n in lengths]
  assert metrics.ndcg_at_k(gains, scores, k) == pytest.approx(
      _oracle_ndcg(gains, scores, k), rel=1e-12)


def test_ndcg_ties_keep_list_order_and_nan_ranks_last():
  gains = [np.array([0, 1, 0])]
  # The tie puts the gain second; NaN sends the first item last.
  assert metrics.ndcg_at_k(gains, [np.array([1.0, 1.0, 1.0])],
                           1) == 0.0
  assert metrics.ndcg_at_k(gains, [np.array([np.nan, 1.0, 1.0])],
                           1) == 1.0
  assert math.isnan(metrics.ndcg_at_k([], [], 10))


class TestDecision:

  def test_must_beat_the_best_yardstick_when_asked(self):
    yardsticks = {"popularity": 0.3, "sales": 0.49, "counts": float("nan")}
    assert blessing.decide(0.5, 0.1, 0.0, yardsticks=yardsticks).blessed
    for value in (0.5, 0.6):  # a tie does not beat it.
      refused = blessing.decide(0.5, 0.1, 0.0, yardsticks={
          **yardsticks, "counts": value})
      assert not refused.blessed
      assert refused.reasons == [
          f"candidate hitrate 0.5000 does not beat the best yardstick, "
          f"counts's {value:.4f} (popularity 0.3000, sales 0.4900, counts "
          f"{value:.4f})"]
    assert blessing.decide(0.5, 0.1, 0.0, yardsticks=None).blessed
    both = blessing.decide(0.05, 0.1, 0.0, yardsticks={"popularity": 0.2})
    assert len(both.reasons) == 2

  def test_threshold(self):
    assert blessing.decide(0.5, threshold=0.4, tolerance=0.0).blessed
    refused = blessing.decide(0.3, threshold=0.4, tolerance=0.0)
    assert not refused.blessed and "below the threshold" in refused.reasons[0]

  def test_regression_against_the_last_blessed_model(self):
    ok = blessing.decide(0.49, 0.1, tolerance=0.02, baseline=0.5,
                         has_baseline=True)
    assert ok.blessed
    worse = blessing.decide(0.47, 0.1, tolerance=0.02, baseline=0.5,
                            has_baseline=True)
    assert not worse.blessed and "regresses" in worse.reasons[0]

  @pytest.mark.parametrize("candidate, baseline, has_baseline", [
      (float("nan"), None, False), (None, None, False),
      (float("inf"), None, False), (0.9, float("nan"), True),
      (0.9, None, True)])
  def test_nan_or_missing_never_blesses(self, candidate, baseline,
                                        has_baseline):
    assert not blessing.decide(candidate, 0.0, 1.0, baseline,
                               has_baseline).blessed
