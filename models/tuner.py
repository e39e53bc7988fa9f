"""The optional Tuner step: a KerasTuner random search over the hyperparameters that decide generalisation, its space in one place.

The TFX Tuner component calls `tuner_fn`; each trial trains the coarse
ranker as the Trainer does (training.fit: the same data, the validation
split, the best checkpoint) for the Tuner's `train_args` steps and reports
its best checkpoint's value of HParams.checkpoint_metric, the objective.
The Trainer then starts from the best trial's values
(trainer.hparams_of).
"""

import dataclasses
from typing import Any, Dict, Mapping

import keras_tuner
from tfx.components.trainer import fn_args_utils
from tfx.components.tuner import component as tuner_component

from models import hparams as hparams_lib
from models import training

# HParams field -> the values a trial may take. Everything else keeps the
# pipeline's settings.
SEARCH_SPACE: Mapping[str, tuple] = {
    "learning_rate": (0.002, 0.005, 0.01),
    "temperature": (0.05, 0.1, 0.2, 0.35),
    "embedding_l2": (0.0, 1e-6, 1e-5),
    "dropout": (0.0, 0.2),
}
OBJECTIVE = "checkpoint_value"


def search_space() -> keras_tuner.HyperParameters:
  """SEARCH_SPACE as KerasTuner choices."""
  hp = keras_tuner.HyperParameters()
  for name, values in SEARCH_SPACE.items():
    hp.Choice(name, list(values))
  return hp


def values_of(config: Mapping[str, Any]) -> Dict[str, Any]:
  """The values of a HyperParameters config (the Tuner's output)."""
  return keras_tuner.HyperParameters.from_config(config).values


def apply(hparams: hparams_lib.HParams,
          values: Mapping[str, Any]) -> hparams_lib.HParams:
  """`hparams` with the searched fields set from `values`.

  Raises:
    ValueError: `values` names a field outside SEARCH_SPACE.
  """
  unknown = sorted(set(values) - set(SEARCH_SPACE))
  if unknown:
    raise ValueError(f"tuned values outside the search space: {unknown}")
  return dataclasses.replace(hparams, **values)


class _Search(keras_tuner.RandomSearch):
  """Random search whose trials train with training.fit."""

  def run_trial(self, trial, fn_args: fn_args_utils.FnArgs,
                base: hparams_lib.HParams) -> Dict[str, float]:
    hparams = apply(base, trial.hyperparameters.values)
    _, summary = training.fit(fn_args, training.build_model, hparams)
    return {OBJECTIVE: summary[OBJECTIVE]}


def tuner_fn(fn_args: fn_args_utils.FnArgs) -> tuner_component.TunerFnResult:
  """The TFX Tuner entry point: `custom_config` holds the HParams and
  `max_trials`."""
  base = hparams_lib.HParams.from_custom_config(fn_args.custom_config)
  direction = "min" if base.checkpoint_metric == "loss" else "max"
  search = _Search(
      objective=keras_tuner.Objective(OBJECTIVE, direction),
      max_trials=int(fn_args.custom_config[hparams_lib.MAX_TRIALS_KEY]),
      hyperparameters=search_space(), seed=base.seed,
      # A failed trial fails the step: a search over failures would
      # still name a "best" trial.
      max_consecutive_failed_trials=1,
      directory=fn_args.working_dir, project_name="coarse_rank")
  return tuner_component.TunerFnResult(
      tuner=search, fit_kwargs={"fn_args": fn_args, "base": base})

