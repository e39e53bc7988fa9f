"""Transform settings: one frozen dataclass, passed to Transform through custom_config."""

import dataclasses
from typing import Any, Mapping, Optional

from models import checks

# Key of the settings inside Transform's custom_config.
CUSTOM_CONFIG_KEY = "preprocessing"


@dataclasses.dataclass(frozen=True)
class PreprocessingConfig:
  """Transform hyperparameters, set through the Transform `custom_config`.

  Attributes:
    num_oov_buckets: ids reserved for out-of-vocabulary values, in every
      vocabulary; an unknown value is hashed to one of them.
    min_frequency: values seen fewer times in the training data are left out
      of the vocabularies (so they train the out-of-vocabulary ids).
    num_price_buckets: price quantile buckets, fitted on valid entries only.
    max_query_tokens: queries are split on whitespace, then truncated or
      padded with "" to this many tokens.
    num_stat_buckets: quantile buckets of each item statistic (log
      exposures, smoothed CTR, smoothed CVR), fitted on valid entries.
    rate_prior_strength: m of the smoothed rates: CTR = (clicks + m r) /
      (exposures + m), with r the train split's overall click rate (CVR
      likewise, purchases per click), so an item seen a few times is
      close to the average rather than at 0 or 1.
  """

  num_oov_buckets: int = 10
  min_frequency: int = 1
  num_price_buckets: int = 10
  max_query_tokens: int = 8
  num_stat_buckets: int = 10
  rate_prior_strength: float = 20.0

  def __post_init__(self):
    checks.at_least(self, 1, "num_oov_buckets", "min_frequency",
                    "num_price_buckets", "max_query_tokens",
                    "num_stat_buckets")
    checks.positive(self, "rate_prior_strength")

  def to_custom_config(self) -> dict:
    return {CUSTOM_CONFIG_KEY: dataclasses.asdict(self)}

  @classmethod
  def from_custom_config(
      cls, custom_config: Optional[Mapping[str, Any]]) -> "PreprocessingConfig":
    """The settings under CUSTOM_CONFIG_KEY; other keys are not settings."""
    values = dict((custom_config or {}).get(CUSTOM_CONFIG_KEY) or {})
    unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f"unknown preprocessing parameters: {sorted(unknown)}")
    return cls(**values)
