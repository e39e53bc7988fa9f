"""The pipeline's Transform: TFX's component, its executor mending Beam's data plane before it runs."""

from apache_beam.runners.portability.fn_api_runner import worker_handlers
from tfx import v1 as tfx
from tfx.components.transform import executor as transform_executor
from tfx.types import channel

from components.transform import component
from tfx_pipeline import run_result


def test_the_executor_mends_the_data_plane_before_transform_runs(monkeypatch):
  # As in a step's own process (a Kubeflow container): Beam's default.
  monkeypatch.setattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", 1000)
  calls = []

  def tfx_do(self, input_dict, output_dict, exec_properties):
    del self
    calls.append((worker_handlers.DATA_BUFFER_TIME_LIMIT_MS, input_dict,
                  output_dict, exec_properties))

  monkeypatch.setattr(transform_executor.Executor, "Do", tfx_do)
  component.Executor().Do({"examples": []}, {"transform_graph": []},
                          {"custom_config": "{}"})
  # TFX's Transform ran once, on the same arguments, with no time-based flush.
  assert calls == [(0, {"examples": []}, {"transform_graph": []},
                    {"custom_config": "{}"})]


def test_it_is_tfx_transform_under_the_same_id():
  examples = channel.Channel(type=tfx.types.standard_artifacts.Examples)
  schema = channel.Channel(type=tfx.types.standard_artifacts.Schema)
  transform = component.Transform(
      examples=examples, schema=schema,
      preprocessing_fn="models.preprocessing.preprocessing_fn")
  assert isinstance(transform, tfx.components.Transform)
  # run_result finds its runs under this id.
  assert transform.id == run_result.TRANSFORM == "Transform"
  assert transform.executor_spec.executor_class is component.Executor
  assert (set(transform.outputs)
          == set(tfx.components.Transform(
              examples=examples, schema=schema,
              preprocessing_fn="models.preprocessing.preprocessing_fn"
          ).outputs))
