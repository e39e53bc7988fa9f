"""The world suite study: its settings per run, the required checks and the tables, on hand-made results."""

import pytest

from components.validation import scorers
from tfx_pipeline import config as config_lib
from tfx_pipeline.ablation import suite


def _metrics(g5, g10, **extra):
  out = {f"{s}@{k}": 0.5 for s in suite.SLICES for k in suite.SUITE_KS}
  out.update({"global@5%": g5, "global@10%": g10, "ndcg@10": 0.4})
  out.update(extra)
  return out


def _results():
  losses = dict(train_loss=2.0, val_loss=2.5, chosen_step=40,
                train_steps=200, last_val_loss=2.9)
  return {"w": {
      scorers.MODEL: {0: _metrics(0.6, 0.7, **losses),
                      1: _metrics(0.5, 0.8, train_loss=3.0, val_loss=3.25,
                                  chosen_step=20, train_steps=200,
                                  last_val_loss=3.75)},
      scorers.POPULARITY: {0: _metrics(0.55, 0.75), 1: _metrics(0.55, 0.75)},
      scorers.SALES: {0: _metrics(0.58, 0.70), 1: _metrics(0.45, 0.85)},
      scorers.COUNTS: {0: _metrics(0.52, 0.72), 1: _metrics(0.53, 0.76)},
      scorers.FINE_RANKER: {0: _metrics(0.9, 0.9), 1: _metrics(0.9, 0.9)},
      suite.TFRS_BASELINE: {0: _metrics(0.1, 0.2, **losses),
                            1: _metrics(0.2, 0.3, **losses)},
  }}


def test_each_run_is_the_settings_under_test_up_to_the_validation():
  config = suite.SuiteConfig(pipeline=config_lib.PipelineConfig(
      train_steps=12).replace(hparams__learning_rate=0.03))
  run = config.run_config(4, config_lib.BASELINE_RUN_FN)
  assert run.run_fn == config_lib.BASELINE_RUN_FN
  assert run.stop_after == config_lib.VALIDATE
  assert (run.hparams.seed, run.hparams.learning_rate) == (4, 0.03)
  assert run.train_steps == 12
  assert set(suite.SUITE_KS) <= set(run.validation.all_ks)
  assert not run.validation.compare_to_last_blessed
  # The blessing rules stay the defaults: the suite reports what they say.
  assert run.validation.threshold == config_lib.ValidationConfig().threshold
  assert run.validation.beat_yardsticks


@pytest.mark.parametrize("kwargs,message", [
    (dict(worlds=("default", "mars")), "unknown worlds"),
    (dict(seeds=()), "seeds"), (dict(seeds=(1, 1)), "seeds")])
def test_bad_settings_are_named(kwargs, message):
  with pytest.raises(ValueError, match=message):
    suite.SuiteConfig(**kwargs)


def test_required_checks_need_every_seed():
  lines = suite.check_lines(_results())
  row = lambda against, k: next(
      l for l in lines if f"| model − {against} | global@{k} |" in l)
  # The best yardstick per seed: at 5% sales (0.58) on seed 0 and
  # popularity (0.55) on seed 1; at 10% popularity (0.75), then sales (0.85).
  assert row("best_yardstick", "5%").endswith("| +0.020 -0.050 | no |")
  assert row("best_yardstick", "10%").endswith("| -0.050 -0.050 | no |")
  assert row("tfrs_baseline", "5%").endswith("| +0.500 +0.300 | **yes** |")
  assert row("tfrs_baseline", "10%").endswith("| +0.500 +0.500 | **yes** |")


def test_world_tables_give_mean_spread_and_the_loss_gap():
  lines = suite.world_lines(
      "default", _results()["w"], {0: True, 1: False},
      {"requests": 10, "mean_candidates": 500.0, "purchases": 7,
       "out_of_scene": 3, "k_main": "100"})
  text = "\n".join(lines)
  assert "Blessed by the default rules (global hitrate@100): 1 of 2 seeds" in (
      text)
  model = next(l for l in lines if l.startswith("| model | 0.5"))
  # global@5% over seeds (0.6, 0.5): mean 0.55, sample std 0.0707.
  assert model.split(" | ")[2] == "0.550 ± 0.071"
  gap = next(l for l in lines if l.startswith("| model | 40, 20 of 200"))
  # Gaps 0.5 and 0.25: mean 0.375, std 0.177; at the end (2.9, 3.75):
  # mean 3.325, std 0.601.
  assert gap == ("| model | 40, 20 of 200 | 2.500 ± 0.707 | 2.875 ± 0.530 "
                 "| 0.375 ± 0.177 | 3.325 ± 0.601 |")
  fine = next(l for l in lines if l.startswith("| fine_ranker | 0.5"))
  assert fine.split(" | ")[2] == "0.900 ± 0.000"


def test_target_needs_the_model_at_least_the_fine_ranker_out_of_scene():
  results = _results()["w"]
  results[scorers.MODEL][0]["out_of_scene@10%"] = 0.6   # fine 0.5: +0.1
  results[scorers.MODEL][1]["out_of_scene@10%"] = 0.5   # equal: still "at least"
  results[scorers.MODEL][1]["out_of_scene@25%"] = 0.4   # -0.1
  results[scorers.FINE_RANKER][0]["ndcg@10"] = 0.5      # model 0.4: +0.1
  lines = suite.target_lines({suite.TARGET_WORLD: results})
  row = lambda metric: next(l for l in lines if f"| {metric} |" in l)
  assert row("out_of_scene@10%").endswith("| +0.100 +0.000 | **yes** |")
  assert row("out_of_scene@25%").endswith("| +0.000 -0.100 | no |")
  # The fine ranker keeps the top only where it is ahead on every seed.
  assert "| fine_ranker − model | ndcg@10 | +0.100 +0.000 | no |" in (
      row("ndcg@10"))
  assert row("global@1%").endswith("| +0.000 +0.000 | no |")
  assert suite.target_lines({"w": results}) == [
      f"Not measured: {suite.TARGET_WORLD} was not in this run."]


def test_the_held_out_world_is_reported_apart():
  facts = {"requests": 10, "mean_candidates": 500.0, "purchases": 7,
           "out_of_scene": 3, "k_main": "5%"}
  results = {"default": _results()["w"], "fresh_market": _results()["w"]}
  text = suite.markdown({"results": results,
                         "blessed": {w: {0: True, 1: True} for w in results},
                         "facts": {w: facts for w in results}}, "cmd", [0, 1])
  development, rest = text.split("**Held out**")
  held_out = rest.split("## Target")[0]
  assert "| default | model − best_yardstick | global@5% |" in development
  assert "| fresh_market |" not in development
  assert "| fresh_market | model − best_yardstick | global@5% |" in held_out
  assert "| default |" not in held_out
