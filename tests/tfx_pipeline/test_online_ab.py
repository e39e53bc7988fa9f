"""The online A/B replay: one request's funnel checked by hand, common random numbers, the bounds, the paired statistics against NumPy, and the command."""

import dataclasses
import json
import os

import numpy as np
import pytest

from tfx_pipeline import cli
from tfx_pipeline.ablation import online_ab
from tfx_pipeline.synthetic import config as config_lib
from tfx_pipeline.synthetic import replay
from tfx_pipeline.synthetic import simulate
from tfx_pipeline.synthetic import world as world_lib
from tfx_pipeline.synthetic import worlds

NUM_REQUESTS = 8_000


@pytest.fixture(scope="module")
def small_world():
  return world_lib.SyntheticWorld(worlds.world_config(
      "default", num_requests=3_000, seed=2, num_items=2_000))


@pytest.fixture(scope="module")
def bounds(small_world):
  """Legacy twice, oracle and random on the same replayed requests."""
  k = small_world.config.coarse_size
  arm_list = [replay.Arm("legacy", replay.LEGACY, k),
              replay.Arm("legacy_again", replay.LEGACY, k),
              replay.Arm("oracle", replay.ORACLE, k),
              replay.Arm("random", replay.RANDOM, k)]
  outcomes = replay.replay(small_world, arm_list, NUM_REQUESTS, seed=0)
  return arm_list, outcomes, online_ab.summarize(
      outcomes, arm_list, small_world.config, seed=0, resamples=400)


def test_one_request_through_the_funnel_by_hand():
  # 4 retrieved items; the coarse stage passes 3, the fine ranker shows 2.
  cfg = dataclasses.replace(config_lib.WorldConfig(), retrieval_size=4,
                            coarse_size=3, exposed_size=2,
                            out_of_scene_shown_weight=1.0)
  cands = simulate.Candidates(
      req=np.array([0]), user=np.array([0]), cand=np.array([[7, 3, 5, 9]]),
      utility=np.zeros((1, 4)), buy_utility=np.zeros((1, 4)),
      fine=np.array([[1.0, 3.0, 2.0, 0.0]]), legacy=np.zeros((1, 4)))
  # Uniforms of 0 always fire, of 1 never: the outcome is fixed by hand.
  draws = replay.Draws(click=np.zeros((1, 4)),
                       buy=np.array([[0.0, 0.0, 1.0, 0.0]]),
                       out_of_scene=np.array([[0.0, 0.0, 1.0, 0.0]]),
                       random_stage=np.zeros((1, 4)))
  price = np.arange(10, dtype=np.float64) + 1.0  # Item i costs i + 1.
  out = replay.arm_outcomes(cfg, cands, np.array([[4.0, 3.0, 2.0, 1.0]]),
                            3, draws, scale=1.0, price=price)
  # Passed: columns 0, 1, 2 (scores 4, 3, 2); shown in fine order: 1, 2.
  # Bought in search: column 1 (item 3); column 2's buy draw is 1.
  # Elsewhere: columns 0 and 3 (items 7, 9); column 1's want was met here,
  # column 2's draw is 1. Column 3 was dropped by the coarse stage.
  assert out["exposures"].tolist() == [2]
  assert out["clicks"].tolist() == [2]
  assert out["purchases_in_scene"].tolist() == [1]
  assert out["purchases_out_of_scene"].tolist() == [2]
  assert out["gmv"].tolist() == [4.0 + 8.0 + 10.0]
  assert out["fine_top_kept"].tolist() == [0.75]  # All 4 are the top 10.
  assert out["purchases_dropped"].tolist() == [1]


def test_the_same_stage_twice_differs_by_exactly_nothing(bounds):
  _, outcomes, result = bounds
  for name in replay.OUTCOMES:
    np.testing.assert_array_equal(outcomes["legacy"][name],
                                  outcomes["legacy_again"][name])
  again = next(a for a in result["arms"] if a["name"] == "legacy_again")
  for metric in online_ab.METRICS:
    paired = again["against_a"][metric]
    assert paired["difference"] == 0.0
    assert paired["difference_ci"] == [0.0, 0.0]
    assert paired["lift"] == 0.0


def test_the_oracle_wins_and_random_loses(bounds):
  _, _, result = bounds
  by_name = {a["name"]: a["against_a"] for a in result["arms"]}
  for metric in ("purchases_in_scene", "gmv"):
    assert by_name["oracle"][metric]["difference_ci"][0] > 0, metric
    assert by_name["random"][metric]["difference_ci"][1] < 0, metric
  assert by_name["oracle"]["gmv"]["lift_ci"][0] > 0
  assert by_name["random"]["gmv"]["lift_ci"][1] < 0
  # Every arm shows the world's 10 items to every request.
  assert all(a["totals"]["exposures"] == 10 * NUM_REQUESTS
             for a in result["arms"])


def test_arms_share_requests_and_draws(small_world, bounds):
  # A stage that passes every retrieved item loses nothing to the coarse
  # stage: its purchases elsewhere are only of items the search did not
  # sell, whichever order it scores in.
  cfg = small_world.config
  everything = [replay.Arm("all_legacy", replay.LEGACY, cfg.retrieval_size),
                replay.Arm("all_random", replay.RANDOM, cfg.retrieval_size)]
  out = replay.replay(small_world, everything, 500, seed=0)
  for name in replay.OUTCOMES:
    np.testing.assert_array_equal(out["all_legacy"][name],
                                  out["all_random"][name])
  assert out["all_legacy"]["purchases_dropped"].sum() == 0
  assert out["all_legacy"]["fine_top_kept"].min() == 1.0


def test_paired_statistics_against_numpy():
  rng = np.random.default_rng(0)
  a = rng.poisson(2.0, size=400).astype(float)
  b = a + rng.normal(0.5, 1.0, size=400)
  stats = online_ab.paired(a, b, np.random.default_rng(1), resamples=300)
  assert stats["mean_a"] == pytest.approx(a.mean())
  assert stats["difference"] == pytest.approx((b - a).mean())
  assert stats["lift"] == pytest.approx(b.sum() / a.sum() - 1.0)
  # The same resamples, drawn the way the docstring says.
  index = np.random.default_rng(1).integers(0, 400, size=(50, 400))
  first = (b[index] - a[index]).mean(axis=1)
  low, high = stats["difference_ci"]
  assert low < stats["difference"] < high
  assert low <= np.quantile(first, 0.5) <= high
  # A constant shift has no spread.
  shifted = online_ab.paired(a, a + 1.0, np.random.default_rng(2), 100)
  assert shifted["difference_ci"] == pytest.approx([1.0, 1.0])


def test_sizes_and_arms():
  cfg = worlds.world_config("default")
  assert online_ab.sizes("200,50,100,100", cfg) == [50, 100, 200]
  assert online_ab.sizes("10%,20%", cfg) == [50, 100]  # Of 500 retrieved.
  assert online_ab.default_sizes(cfg) == [50, 100, 200]
  with pytest.raises(ValueError, match=r"outside \[10, 500\]"):
    online_ab.sizes("5", cfg)
  names = [a.name for a in online_ab.arms(cfg, [50, 100, 200], True)]
  assert names == ["legacy", "model", "oracle", "random", "model@50",
                   "model@200"]
  assert [a.name for a in online_ab.arms(cfg, [50], False)] == [
      "legacy", "oracle", "random"]
  with pytest.raises(ValueError, match="needs a model scorer"):
    replay.replay(world_lib.SyntheticWorld(worlds.world_config(
        "default", num_requests=200, num_items=2_000)),
                  online_ab.arms(cfg, [100], True), 10)


def test_the_command_writes_the_same_tables_twice(tmp_path, capsys):
  logs = str(tmp_path / "logs")
  assert cli.main(["generate", "--out", logs, "--requests", "400",
                   "--items", "1500", "--seed", "4"]) == 0
  with open(os.path.join(logs, config_lib.WORLD_FILE)) as f:
    assert config_lib.from_json(f.read()) == worlds.world_config(
        "default", num_requests=400, seed=4, num_items=1500)
  argv = ["simulate-ab", "--world", logs, "--no-model", "--requests", "300",
          "--output", str(tmp_path / "ab")]
  capsys.readouterr()
  assert cli.main(argv) == 0
  first = capsys.readouterr().out
  assert cli.main(argv + ["--overwrite"]) == 0
  second = capsys.readouterr().out
  table = lambda text: text.split("Command:")[0]
  assert table(first) == table(second)
  assert "| oracle | 100 |" in first
  with open(tmp_path / "ab" / "ab.json") as f:
    result = json.load(f)
  assert [a["name"] for a in result["arms"]] == ["legacy", "oracle", "random"]
  assert result["requests"] == 300


@pytest.mark.parametrize("extra,message", [
    (["--no-model", "--coarse-output-sizes", "3"], "--coarse-output-sizes"),
    (["--coarse-output-sizes", "50"], "pass one of --model"),
    (["--no-model", "--model", "x"], "got --model and --no-model"),
    (["--model", "{tmp}"], "is neither a SavedModel"),
])
def test_the_command_refuses_bad_arguments(tmp_path, capsys, extra, message):
  argv = ["simulate-ab", "--world", "default", "--output",
          str(tmp_path / "out")] + [e.format(tmp=tmp_path) for e in extra]
  assert cli.main(argv) == 2
  assert message in capsys.readouterr().err
  assert not (tmp_path / "out").exists()


def test_an_unknown_world_is_named(tmp_path, capsys):
  assert cli.main(["simulate-ab", "--world", str(tmp_path / "nowhere"),
                   "--no-model", "--output", str(tmp_path / "o")]) == 2
  assert "is neither a suite world" in capsys.readouterr().err
