"""AblationConfig: which scorers and seeds the study compares, on which pipeline settings."""

import dataclasses
from typing import Sequence

from tfx_pipeline import config as config_lib
from tfx_pipeline.ablation import variants as variants_lib


@dataclasses.dataclass(frozen=True)
class AblationConfig:
  """What to compare, on which pipeline settings.

  Attributes:
    seeds: training seeds; every trained scorer runs once per seed (each
      replaces `pipeline.hparams.seed`).
    variants: names of the trained scorers (variants.VARIANTS); the fine
      ranker is always evaluated.
    pipeline: the full model's settings; each variant changes some of them.
      Its validation ks are the report's cutoffs, its train_steps every
      scorer's budget.
  """
  seeds: Sequence[int] = (0, 1, 2)
  variants: Sequence[str] = tuple(v.name for v in variants_lib.VARIANTS)
  pipeline: config_lib.PipelineConfig = config_lib.PipelineConfig(
      validation=config_lib.ValidationConfig(ks=variants_lib.DEFAULT_KS))

  def __post_init__(self):
    if not self.seeds:
      raise ValueError("need at least one seed")
    if len(set(self.seeds)) != len(self.seeds):
      raise ValueError(f"seeds repeat: {list(self.seeds)}")
    if variants_lib.HEADLINE_K not in self.pipeline.validation.all_ks:
      raise ValueError(f"ks must include {variants_lib.HEADLINE_K}: the "
                       f"findings are stated at K={variants_lib.HEADLINE_K}")
    variants_lib.select(self.variants)

  @property
  def ks(self) -> Sequence[str]:
    return self.pipeline.validation.all_ks

  def run_config(self, variant: variants_lib.Variant,
                 seed: int) -> config_lib.PipelineConfig:
    """The pipeline settings of one scorer and seed, up to validation.

    Every run is evaluated by the pipeline's own validator on its eval sets
    (which do not depend on the variant), without a blessing threshold and
    without comparing to another run's model.
    """
    return self.pipeline.replace(
        run_fn=variant.run_fn, stop_after=config_lib.VALIDATE,
        hparams=variant.hparams_for(self.pipeline.hparams, seed),
        listwise=variant.listwise_params_for(self.pipeline.listwise),
        validation__threshold=0.0, validation__compare_to_last_blessed=False)
