"""Tests of the config range checks and the configs' messages."""

import dataclasses
import functools

import pytest

from models import checks
from models import hparams as hparams_lib
from models import preprocessing_config


@dataclasses.dataclass
class _Config:
  size: int = 1
  rate: float = 0.5
  weight: float = 0.0
  share: float = 1.0


def test_valid_values_pass():
  config = _Config()
  checks.at_least(config, 1, "size")
  checks.at_least(config, 0, "weight", "rate")
  checks.positive(config, "rate", "size")
  checks.in_unit_interval(config, "weight", "rate", "share")
  checks.in_range(config, 0, 1, "weight", include_high=False)
  # A lower bound lets NaN pass, as the configs' own loops did.
  checks.at_least(_Config(weight=float("nan")), 0, "weight")


@pytest.mark.parametrize("check, args, value, message", [
    (checks.at_least, (1, "size"), 0, "size must be >= 1, got 0"),
    (checks.at_least, (0, "weight"), -0.5, "weight must be >= 0, got -0.5"),
    (checks.positive, ("rate",), 0.0, "rate must be > 0, got 0.0"),
    (checks.positive, ("rate",), float("nan"), "rate must be > 0, got nan"),
    (checks.in_unit_interval, ("share",), 1.5,
     r"share must be in \[0, 1\], got 1.5"),
    (checks.in_range, (1, 24, "size"), 25,
     r"size must be in \[1, 24\], got 25"),
    (functools.partial(checks.in_range, include_high=False),
     (0, 1, "share"), 1.0, r"share must be in \[0, 1\), got 1.0"),
])
def test_a_bad_field_is_named_with_its_value(check, args, value, message):
  config = dataclasses.replace(_Config(), **{args[-1]: value})
  with pytest.raises(ValueError, match=message):
    check(config, *args)


def test_the_first_bad_field_is_reported():
  with pytest.raises(ValueError, match="^size must"):
    checks.at_least(_Config(size=0, weight=-1.0), 0.5, "size", "weight")


@pytest.mark.parametrize("config_cls, kwargs, message", [
    (hparams_lib.HParams, dict(top_k=0), "top_k must be >= 1, got 0"),
    (hparams_lib.HParams, dict(learning_rate=0.0),
     "learning_rate must be > 0, got 0.0"),
    (hparams_lib.HParams, dict(w_click=-1.0), "w_click must be >= 0, got -1.0"),
    (hparams_lib.HParams, dict(label_smoothing=1.0),
     r"label_smoothing must be in \[0, 1\), got 1.0"),
    (preprocessing_config.PreprocessingConfig, dict(min_frequency=0),
     "min_frequency must be >= 1, got 0"),
])
def test_configs_keep_their_messages(config_cls, kwargs, message):
  with pytest.raises(ValueError, match=message):
    config_cls(**kwargs)
