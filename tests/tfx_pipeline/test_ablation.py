"""Tests of the ablation study: variants, seed statistics, verdicts, the report, and a tiny end-to-end study."""

import dataclasses
import json
import math
import os

import numpy as np
import pytest

from components.listwise import params as params_lib
from components.validation import metrics
from models import features as f
from models import hparams as hparams_lib
from tfx_pipeline import beam_options
from tfx_pipeline import cli
from tfx_pipeline import config as config_lib
from tfx_pipeline import run_result
from tfx_pipeline.ablation import config as ablation_config
from tfx_pipeline.ablation import report
from tfx_pipeline.ablation import summary
from tfx_pipeline.ablation import variants as variants_lib
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write

V = variants_lib


def _changed(hparams: hparams_lib.HParams) -> dict:
  base = dataclasses.asdict(hparams_lib.HParams(seed=hparams.seed))
  return {k: v for k, v in dataclasses.asdict(hparams).items()
          if base[k] != v}


@pytest.mark.parametrize("name,changes,alpha", [
    (V.BASELINE, {}, 0.75),
    (V.FULL, {}, 0.75),
    (V.NO_DISTILLATION, {"w_distillation": 0.0}, 0.75),
    (V.NO_UNEXPOSED, {"train_on_unexposed": False}, 0.75),
    (V.NO_OUT_OF_SCENE, {"train_on_out_of_scene": False}, 0.75),
    (V.PLAIN_SOFTMAX, {"revised_softmax": False}, 0.75),
    (V.UNIFORM_NEGATIVES, {}, 0.0),
])
def test_each_variant_changes_one_thing(name, changes, alpha):
  variant = V.BY_NAME[name]
  hparams = variant.hparams_for(hparams_lib.HParams(), seed=7)
  assert hparams.seed == 7
  assert _changed(hparams) == changes
  assert variant.listwise_params_for(params_lib.ListwiseParams()) == (
      dataclasses.replace(params_lib.ListwiseParams(), alpha=alpha))
  assert variant.run_fn == (config_lib.BASELINE_RUN_FN
                            if name == V.BASELINE else config_lib.RUN_FN)


def test_variant_changes_apply_on_top_of_the_run_settings():
  base = hparams_lib.HParams(learning_rate=0.01, w_distillation=0.3)
  hparams = V.BY_NAME[V.NO_DISTILLATION].hparams_for(base, seed=2)
  assert (hparams.learning_rate, hparams.w_distillation) == (0.01, 0.0)
  assert V.BY_NAME[V.FULL].hparams_for(base, 2).w_distillation == 0.3


def test_select_keeps_the_variants_order_and_names_unknown_ones():
  assert [v.name for v in V.select([V.UNIFORM_NEGATIVES, V.BASELINE])] == [
      V.BASELINE, V.UNIFORM_NEGATIVES]
  with pytest.raises(ValueError, match=r"unknown variants \['nope'\]"):
    V.select([V.FULL, "nope"])


def test_every_finding_compares_known_scorers_on_reported_metrics():
  known = set(V.BY_NAME) | {V.FINE_RANKER}
  reported = {f"{s}@{k}" for s in metrics.SLICES for k in V.DEFAULT_KS}
  reported.add("ndcg@10")
  for finding in V.FINDINGS:
    assert {finding.variant, finding.against} <= known
    assert finding.metric_at(V.DEFAULT_KS[-1]) in reported


def test_stats_against_numpy():
  values = [0.2, 0.5, math.nan, 0.6]
  s = summary.stats(values)
  finite = np.array([0.2, 0.5, 0.6])
  assert s.n == 3
  assert s.mean == pytest.approx(finite.mean())
  assert s.std == pytest.approx(np.sqrt(((finite - finite.mean()) ** 2
                                         ).sum() / 2))
  assert (s.low, s.high) == (0.2, 0.6)
  assert summary.stats([0.4]) == summary.Stats(0.4, 0.0, 0.4, 0.4, 1)
  assert summary.stats([math.nan]).n == 0


def test_aggregate_is_per_scorer_and_metric():
  results = {"a": {0: {"m": 1.0, "k": 2.0}, 1: {"m": 3.0, "k": 2.0}}}
  agg = summary.aggregate(results)
  assert agg["a"]["m"].mean == 2.0
  assert agg["a"]["m"].std == pytest.approx(math.sqrt(2.0))
  assert agg["a"]["k"].std == 0.0


@pytest.mark.parametrize("better,outcome", [
    ([0.5, 0.6, 0.7], summary.HELD),
    ([0.3, 0.2, 0.1], summary.REVERSED),
    ([0.5, 0.3, 0.7], summary.MIXED),
    ([0.4, 0.6, 0.4], summary.MIXED),  # a tie on a seed does not hold.
])
def test_verdict_needs_the_sign_on_every_seed(better, outcome):
  results = {"a": {s: {"m": v} for s, v in enumerate(better)},
             "b": {s: {"m": 0.4} for s in range(3)}}
  v = summary.verdict(results, "a", "b", "m")
  assert v.outcome == outcome
  np.testing.assert_allclose(v.differences, np.array(better) - 0.4)
  assert v.mean_difference == pytest.approx(np.mean(better) - 0.4)


def test_verdict_without_data_is_not_measured():
  v = summary.verdict({"a": {0: {"m": 1.0}}}, "a", "b", "m")
  assert v.outcome == summary.MISSING
  assert v.differences == ()


def test_flatten_names_metrics_slice_at_k():
  evaluation = {"hitrate": {"x": {"global": {"10": 0.25, "100": 0.5},
                                  "tail": {"10": None, "100": 0.1}}},
                "ndcg@10": {"x": 0.3}}
  flat = summary.flatten(evaluation, "x")
  assert flat["global@10"] == 0.25 and flat["tail@100"] == 0.1
  assert math.isnan(flat["tail@10"]) and flat["ndcg@10"] == 0.3


def _results():
  """Two seeds; the full model beats the fine ranker at K=300 on both."""
  metric = lambda g100, g300, ndcg: {
      **{f"{s}@{k}": 0.5 for s in metrics.SLICES for k in ("100", "300")},
      "global@100": g100, "global@300": g300, "ndcg@10": ndcg}
  return {
      V.FINE_RANKER: {0: metric(0.7, 0.8, 0.9), 1: metric(0.7, 0.8, 0.9)},
      V.FULL: {0: metric(0.6, 0.9, 0.5), 1: metric(0.8, 0.85, 0.7)},
      V.NO_DISTILLATION: {0: metric(0.65, 0.9, 0.5),
                          1: metric(0.75, 0.9, 0.5)},
  }


def test_markdown_states_verdicts_tables_and_command():
  text = report.markdown(_results(), report.Context(
      command="coarse-rank ablate --logs L --output O", seeds=[0, 1],
      ks=["100", "300"], train_steps=50, batch_size=8,
      data={"Eval requests": 12}))
  assert "coarse-rank ablate --logs L --output O" in text
  assert "50 training steps of 8 lists" in text
  assert "- Eval requests: 12" in text
  lines = text.splitlines()
  large_k = next(l for l in lines if l.startswith("| the coarse model"))
  # full - fine at K=300: +0.100 and +0.050 -> held.
  assert "global@300 | +0.100 +0.050 | +0.075 | **held** |" in large_k
  distill = next(l for l in lines if l.startswith("| distillation helps"))
  assert "| -0.050 +0.050 | +0.000 |" in distill
  assert f"**{summary.MIXED}**" in distill
  softmax = next(l for l in lines if l.startswith("| the revised softmax"))
  assert f"**{summary.MISSING}**" in softmax
  # Headline row of the full model: global@100 mean 0.7, sample std of
  # (0.6, 0.8) = 0.141; the fine ranker has no spread.
  full = next(l for l in lines if l.startswith(f"| {V.FULL} |"))
  assert full.split(" | ")[1] == "0.700 ± 0.141"
  fine = next(l for l in lines if l.startswith(f"| {V.FINE_RANKER} |"))
  assert fine.split(" | ")[1] == "0.700"
  assert f"]({report.PLOT_FILE})" in text


def test_curves_png_is_an_image():
  png = report.curves_png(_results(), ["100", "300"])
  assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("kwargs,message", [
    (dict(seeds=()), "at least one seed"),
    (dict(seeds=(1, 1)), "seeds repeat"),
    (dict(pipeline=config_lib.PipelineConfig().replace(
        validation__ks=("10", "50"), validation__k_main="50")),
     "must include 100"),
    (dict(variants=("full", "bogus")), "unknown variants"),
])
def test_config_errors_name_the_problem(kwargs, message):
  with pytest.raises(ValueError, match=message):
    ablation_config.AblationConfig(**kwargs)


def test_each_run_is_the_variant_up_to_validation_without_comparison():
  config = ablation_config.AblationConfig(
      pipeline=config_lib.PipelineConfig(train_steps=33).replace(
          hparams__learning_rate=0.02, validation__ks=("100", "300")))
  baseline = config.run_config(V.BY_NAME[V.BASELINE], seed=4)
  assert baseline.run_fn == config_lib.BASELINE_RUN_FN
  assert baseline.stop_after == config_lib.VALIDATE
  assert (baseline.hparams.seed, baseline.hparams.learning_rate) == (4, 0.02)
  assert baseline.train_steps == 33
  assert baseline.validation.threshold == 0.0
  assert not baseline.validation.compare_to_last_blessed
  assert baseline.validation.ks == ("100", "300")
  uniform = config.run_config(V.BY_NAME[V.UNIFORM_NEGATIVES], seed=4)
  assert uniform.listwise.alpha == 0.0
  assert uniform.run_fn == config_lib.RUN_FN


def test_cli_refuses_bad_settings_before_any_work(tmp_path, capsys):
  code = cli.main(["ablate", "--logs", str(tmp_path / "missing"),
                   "--output", str(tmp_path / "out"), "--ks", "10", "20",
                   "--k-main", "20"])
  assert code == 2
  assert "must include 100" in capsys.readouterr().err
  code = cli.main(["ablate", "--logs", str(tmp_path / "missing"),
                   "--output", str(tmp_path / "out")])
  assert code == 2
  assert "the logs directory" in capsys.readouterr().err
  assert not (tmp_path / "out").exists()


@pytest.mark.e2e
def test_tiny_study_reports_resumes_and_uses_the_same_eval_sets(tmp_path):
  from tfx_pipeline.ablation import run  # pylint: disable=g-import-not-at-top
  logs, out = str(tmp_path / "logs"), str(tmp_path / "out")
  write.write_logs(logs, world_config.WorldConfig(num_requests=600,
                                                  num_items=500, seed=3))
  argv = ["ablate", "--logs", logs, "--output", out, "--seeds", "0", "1",
          "--variants", V.FULL, V.UNIFORM_NEGATIVES, "--train-steps", "15",
          "--eval-steps", "2", "--model-batch-size", "16", "--beam-mode",
          "in_memory"]
  assert cli.main(argv) == 0

  with open(os.path.join(out, run.RESULTS_FILE)) as fh:
    saved = json.load(fh)
  assert saved["seeds"] == [0, 1]
  assert saved["command"].startswith("coarse-rank ablate --logs ")
  results = saved["results"]
  assert set(results) == {V.FINE_RANKER, V.FULL, V.UNIFORM_NEGATIVES}
  for by_seed in results.values():
    assert set(by_seed) == {"0", "1"}
    for values in by_seed.values():
      # Every reported cutoff: the study's and the blessing's k_main.
      ks = config_lib.ValidationConfig(ks=V.DEFAULT_KS).all_ks
      assert len(values) == len(metrics.SLICES) * len(ks) + 1
      for k_small, k_large in zip(V.DEFAULT_KS, V.DEFAULT_KS[1:]):  # counts
        assert values[f"global@{k_small}"] <= values[f"global@{k_large}"]
  # Two trained models of different seeds differ; the fine ranker does not.
  assert results[V.FULL]["0"] != results[V.FULL]["1"]
  assert results[V.FINE_RANKER]["0"] == results[V.FINE_RANKER]["1"]
  text = open(os.path.join(out, report.REPORT_FILE)).read()
  assert saved["command"] in text
  assert os.path.getsize(os.path.join(out, report.PLOT_FILE)) > 0

  # The same study again, through the runner: every component of every run
  # is reused (nothing trains) and the results are the same.
  config = ablation_config.AblationConfig(
      seeds=(0, 1), variants=(V.FULL, V.UNIFORM_NEGATIVES),
      pipeline=config_lib.PipelineConfig(
          train_steps=15, eval_steps=2,
          validation=config_lib.ValidationConfig(ks=V.DEFAULT_KS)).replace(
              hparams__batch_size=16))
  again = run.run_ablation(logs, out, config, command=saved["command"],
                           beam_pipeline_args=beam_options.beam_args(
                               "in_memory"))
  assert {s for states in again["states"].values()
          for s in states.values()} == {"cached"}
  assert {name: {str(s): m for s, m in by_seed.items()}
          for name, by_seed in again["results"].items()} == results

  # The uniform variant trained on its own examples (alpha 0): the same
  # eval candidate sets, other random negatives.
  runs = again["runs"]
  full, uniform = runs[(V.FULL, 0)], runs[(V.UNIFORM_NEGATIVES, 0)]
  assert full.examples != uniform.examples
  assert runs[(V.FULL, 1)].examples == full.examples
  from components.validation import data  # pylint: disable=g-import-not-at-top
  eval_sets = lambda r: data.read_eval_sets(
      r.split(run_result.EXAMPLE_GEN, "eval_candidates", "eval"))[0]
  sets = {"full": eval_sets(full), "uniform": eval_sets(uniform)}
  assert [s.request_id for s in sets["full"]] == [
      s.request_id for s in sets["uniform"]]
  assert all((a.item_ids == b.item_ids).all()
             for a, b in zip(sets["full"], sets["uniform"]))
  random_items = {}
  for name, result in (("full", full), ("uniform", uniform)):
    from components.listwise import encode  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    files = tf.io.gfile.glob(os.path.join(result.split(
        run_result.EXAMPLE_GEN, "examples", "train"), "*"))
    items = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
      e = encode.decode(record.numpy())
      items += [i for i, t in zip(e[f.ITEM_ID], e[f.SAMPLE_TYPE])
                if t == f.SAMPLE_RANDOM]
    random_items[name] = items
  assert random_items["full"] != random_items["uniform"]
