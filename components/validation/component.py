"""HitrateValidator: a TFX component that blesses a model on global transaction hitrate."""

import json
from typing import Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from components import code_fingerprint
from components.validation import executor
from models import cutoffs


class HitrateMetrics(artifact.Artifact):
  """metrics.json (hitrate@K tables, NDCG@10, decision) and the curves PNG."""
  # KFP v2 imports a custom type from its TYPE_NAME: `<package>.<Class>`.
  TYPE_NAME = "components.HitrateMetrics"


class HitrateValidatorSpec(types.ComponentSpec):
  PARAMETERS = {
      executor.K_MAIN_KEY: ExecutionParameter(type=str),
      executor.KS_KEY: ExecutionParameter(type=str),
      executor.THRESHOLD_KEY: ExecutionParameter(type=float),
      executor.TOLERANCE_KEY: ExecutionParameter(type=float),
      executor.HEAD_SHARE_KEY: ExecutionParameter(type=float),
      executor.BEAT_YARDSTICKS_KEY: ExecutionParameter(type=int),
      code_fingerprint.KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {
      executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.BASELINE_MODEL_KEY: ChannelParameter(
          type=standard_artifacts.Model, optional=True),
      executor.EVAL_CANDIDATES_KEY: ChannelParameter(
          type=standard_artifacts.Examples),
      executor.EXAMPLES_KEY: ChannelParameter(
          type=standard_artifacts.Examples),
  }
  OUTPUTS = {
      executor.BLESSING_KEY: ChannelParameter(
          type=standard_artifacts.ModelBlessing),
      executor.METRICS_KEY: ChannelParameter(type=HitrateMetrics),
  }


class HitrateValidator(base_beam_component.BaseBeamComponent):
  """Evaluates a model on the eval candidate sets (a Beam job) and blesses it or not.

  It computes hitrate@K (global, in-scene, out-of-scene, head and tail
  items; K a count or a share of each candidate set) for the model, the fine
  ranker's own scores, the yardsticks (popularity, sales, counts:
  scorers.py) and the last blessed model on the same sets, and NDCG@10 on
  exposed lists. The model is blessed only if its global hitrate@k_main is
  at least `threshold`, beats the best yardstick's (if `beat_yardsticks`)
  and is at most `tolerance` below the last blessed model's; a NaN or
  missing metric never blesses. Its code's
  fingerprint is an exec property, so changed code is not served from
  TFX's cache.
  """

  SPEC_CLASS = HitrateValidatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self, model: types.BaseChannel,
               eval_candidates: types.BaseChannel,
               examples: types.BaseChannel,
               baseline_model: Optional[types.BaseChannel], k_main: str,
               ks: Sequence[str], threshold: float, tolerance: float,
               head_share: float, beat_yardsticks: bool):
    super().__init__(HitrateValidatorSpec(
        model=model, eval_candidates=eval_candidates, examples=examples,
        baseline_model=baseline_model, k_main=cutoffs.parse(k_main).text,
        ks=json.dumps(cutoffs.ordered([*ks, k_main])), threshold=threshold,
        tolerance=tolerance, head_share=head_share,
        beat_yardsticks=int(beat_yardsticks),
        code_fingerprint=code_fingerprint.fingerprint(executor.__name__),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        metrics=types.Channel(type=HitrateMetrics)))
