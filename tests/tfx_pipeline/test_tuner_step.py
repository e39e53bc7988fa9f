"""`--tune`: the Tuner runs before the Trainer on a tiny run, and the Trainer trains with the best trial's values."""

import glob
import json
import os

import pytest

from models import training
from models import tuner
from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline import run_result


@pytest.mark.e2e
def test_trainer_starts_from_the_best_trial(pushed):
  # On the shared run's logs and output: its examples and Transform are
  # reused, only the Tuner and the Trainer run.
  config = config_lib.PipelineConfig(
      train_steps=6, eval_steps=1, tune=True, tune_trials=3,
      tune_train_steps=4, stop_after=config_lib.TRAIN).replace(
          hparams__batch_size=16, hparams__checkpoints=2)
  result = local_runner.run(config, pushed.logs_dir,
                            pushed.result.layout.output_dir,
                            beam_options.beam_args("in_memory"))
  states = {r.component: r.state for r in result.components}
  assert states["Transform"] == "cached"
  names = [r.component for r in result.components]
  assert names.index("Tuner") < names.index("Trainer")

  (trials_file,) = glob.glob(os.path.join(
      result.uri("Tuner", "tuner_results"), "*.json"))
  with open(trials_file) as fh:
    trials = json.load(fh)
  assert len(trials) == 3
  # The objective is the best checkpoint's value of the checkpoint metric:
  # the validation candidate-set hitrate by default, highest wins.
  assert config.hparams.checkpoint_metric == "candidate_hitrate"
  top = max(t["score"] for t in trials)
  used = training.read_training_summary(
      result.uri(run_result.TRAINER, "model_run"))["hparams"]
  # On a tie any of the best trials may be the one the Tuner names.
  assert any(all(used[name] == t[name] for name in tuner.SEARCH_SPACE)
             for t in trials if t["score"] == top)
  for name, values in tuner.SEARCH_SPACE.items():
    assert used[name] in values
  assert used["batch_size"] == 16  # Not searched: the pipeline's setting.
