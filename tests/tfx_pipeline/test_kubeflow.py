"""The Kubeflow compile: the KFP v2 spec, read through the kfp-pipeline-spec protos, holds every step, its image and its parameters."""

import importlib.metadata
import json
import os
import re

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.utils import import_utils

from components import code_fingerprint
from components.listwise import params as params_lib
from models import hparams as hparams_lib
from tfx_pipeline import cli
from tfx_pipeline import kubeflow_runner
from tfx_pipeline import config as config_lib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
IMAGE = "registry.example.com/coarse-rank:test"
ROOT = "gs://bucket/coarse-rank/pipeline"
LOGS = "gs://bucket/logs"
SERVING = "gs://bucket/serving"
BEAM_ARGS = ["--runner=DataflowRunner", "--project=p", "--region=r",
             "--temp_location=gs://bucket/tmp", "--experiments=use_runner_v2",
             f"--sdk_container_image={IMAGE}"]
LAUNCHER = ["python", "-m",
            "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
# Container steps and the executor each one runs.
EXECUTORS = {
    "ListwiseExampleGen": "components.listwise.executor.Executor",
    "ListwiseSchemaGen":
        "components.schema.component.ListwiseSchemaGen_Executor",
    "Transform": "components.transform.component.Executor",
    "Trainer": "tfx.components.trainer.executor.GenericExecutor",
    "HitrateValidator": "components.validation.executor.Executor",
    "Pusher": "components.push.pusher.Executor",
    "UpdateModelsConfig":
        "components.push.component.UpdateModelsConfig_Executor",
}
RESOLVER_ID = "last_blessed_model"
# Values other than create_pipeline's defaults, to see them pass through.
LISTWISE = params_lib.ListwiseParams(list_size=24, history_length=12)
HPARAMS = hparams_lib.HParams(learning_rate=0.02, embedding_dim=16)
VALIDATION = config_lib.ValidationConfig(k_main="50", ks=("10", "5%"),
                                         threshold=0.31, tolerance=0.03)
TRAIN_STEPS = 123
CONFIG = config_lib.PipelineConfig(listwise=LISTWISE, hparams=HPARAMS,
                                   validation=VALIDATION,
                                   train_steps=TRAIN_STEPS)


def _parse(struct, message):
  """Reads a Struct field of the spec as its proto; unknown fields fail."""
  return json_format.ParseDict(json_format.MessageToDict(struct), message)


def _load_job(path):
  with open(path) as f:
    job = json_format.ParseDict(json.load(f), pipeline_spec_pb2.PipelineJob())
  spec = _parse(job.pipeline_spec, pipeline_spec_pb2.PipelineSpec())
  deployment = _parse(spec.deployment_spec,
                      pipeline_spec_pb2.PipelineDeploymentConfig())
  return job, spec, deployment


def _executor(spec, deployment, task):
  component = spec.components[spec.root.dag.tasks[task].component_ref.name]
  return deployment.executors[component.executor_label]


def _constant(spec, task, name):
  value = spec.root.dag.tasks[task].inputs.parameters[name].runtime_value
  return json_format.MessageToDict(value.constant)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("kfp") / "pipeline.json")
  assert kubeflow_runner.compile_pipeline(
      IMAGE, ROOT, path, CONFIG, logs_dir=LOGS, serving_dir=SERVING,
      beam_pipeline_args=BEAM_ARGS) == path
  return _load_job(path)


def test_every_component_is_a_task_in_the_image(compiled):
  _, spec, deployment = compiled
  tasks = spec.root.dag.tasks
  resolvers = set(tasks) - set(EXECUTORS)
  # The Resolver compiles to two ML Metadata queries: the latest blessing,
  # then the model it names.
  assert set(EXECUTORS) <= set(tasks)
  assert len(resolvers) == 2
  for task in resolvers:
    assert task.startswith(RESOLVER_ID + "-")
    assert _executor(spec, deployment, task).WhichOneof("spec") == "resolver"
  for task, executor_class in EXECUTORS.items():
    container = _executor(spec, deployment, task).container
    assert container.image == IMAGE, task
    assert list(container.command) == LAUNCHER
    args = list(container.args)
    assert args[args.index("--executor_class_path") + 1] == executor_class
    import_utils.import_class_by_path(executor_class)
  images = {e.container.image for e in deployment.executors.values()
            if e.WhichOneof("spec") == "container"}
  assert images == {IMAGE}
  assert set(tasks["Pusher"].dependent_tasks) >= {"HitrateValidator",
                                                  "Trainer"}
  assert any(t.startswith(RESOLVER_ID)
             for t in tasks["HitrateValidator"].dependent_tasks)
  assert "Pusher" in tasks["UpdateModelsConfig"].dependent_tasks


def test_parameters_are_in_the_spec(compiled):
  _, spec, deployment = compiled
  assert _constant(spec, "ListwiseExampleGen", "logs_dir") == LOGS
  assert _constant(spec, "ListwiseExampleGen", "params") == LISTWISE.to_json()
  assert _constant(spec, "ListwiseSchemaGen", "list_size") == 24
  assert _constant(spec, "ListwiseSchemaGen", "history_length") == 12
  assert _constant(spec, "Transform",
                   "preprocessing_fn") == config_lib.PREPROCESSING_FN
  assert _constant(spec, "Trainer", "run_fn") == "models.trainer.run_fn"
  assert json.loads(_constant(spec, "Trainer", "custom_config")) == {
      **json.loads(json.dumps(HPARAMS.to_custom_config())),
      "checkpoint_cutoff": "50",  # The validation's k_main.
      "code_fingerprint": code_fingerprint.fingerprint(
          "models.trainer.run_fn")}
  assert json.loads(_constant(spec, "Trainer", "train_args")) == {
      "num_steps": TRAIN_STEPS}
  assert _constant(spec, "HitrateValidator", "threshold") == 0.31
  assert _constant(spec, "HitrateValidator", "k_main") == "50"
  assert _constant(spec, "HitrateValidator", "tolerance") == 0.03
  assert json.loads(_constant(spec, "HitrateValidator", "ks")) == [
      "10", "50", "5%"]
  assert _constant(spec, "HitrateValidator", "beat_yardsticks") == 1
  push = json.loads(_constant(spec, "Pusher", "push_destination"))
  assert push["filesystem"]["base_directory"] == (
      f"{SERVING}/{config_lib.DEFAULT_MODEL_NAME}")
  assert _constant(spec, "UpdateModelsConfig", "serving_dir") == SERVING
  # No module_file: nothing is packaged under the pipeline root.
  assert "module_file" not in spec.root.dag.tasks["Trainer"].inputs.parameters
  for task in ("ListwiseExampleGen", "Transform", "HitrateValidator"):
    args = list(_executor(spec, deployment, task).container.args)
    assert args[-len(BEAM_ARGS) - 1:] == [
        "--beam_plugins=components.tf_exit", *BEAM_ARGS]


def test_pipeline_root_and_name_are_set(compiled):
  job, spec, _ = compiled
  assert job.runtime_config.gcs_output_directory == ROOT
  assert spec.default_pipeline_root == ROOT
  assert spec.pipeline_info.name == config_lib.DEFAULT_PIPELINE_NAME
  assert spec.schema_version == "2.1.0"


def test_cli_writes_the_same_spec(tmp_path, capsys):
  by_function = str(tmp_path / "function.json")
  by_cli = str(tmp_path / "cli.json")
  kubeflow_runner.compile_pipeline(
      IMAGE, ROOT, by_function,
      CONFIG.replace(pipeline_name="coarse-rank-test"), logs_dir=LOGS,
      serving_dir=SERVING, beam_pipeline_args=BEAM_ARGS)
  assert cli.main(["compile-kfp", "--image", IMAGE, "--pipeline-root", ROOT,
                   "--output", by_cli, "--logs", LOGS, "--serving-dir",
                   SERVING, "--pipeline-name", "coarse-rank-test",
                   "--train-steps", str(TRAIN_STEPS), "--list-size", "24",
                   "--history-length", "12", "--model-learning-rate", "0.02",
                   "--model-embedding-dim", "16", "--k-main", "50", "--ks",
                   "10", "5%", "--threshold", "0.31", "--tolerance", "0.03",
                   "--"] + BEAM_ARGS) == 0
  assert by_cli in capsys.readouterr().out
  with open(by_function) as f, open(by_cli) as g:
    assert json.load(f) == json.load(g)


def test_yaml_output_is_the_pipeline_spec(tmp_path, compiled):
  path = str(tmp_path / "pipeline.yaml")
  assert cli.main(["compile-kfp", "--image", IMAGE, "--pipeline-root", ROOT,
                   "--output", path]) == 0
  with open(path) as f:
    spec = json_format.ParseDict(yaml.safe_load(f),
                                 pipeline_spec_pb2.PipelineSpec())
  assert spec.default_pipeline_root == ROOT
  assert set(spec.root.dag.tasks) == set(compiled[1].root.dag.tasks)
  # Default paths under the pipeline root; no Beam arguments.
  assert _constant(spec, "ListwiseExampleGen", "logs_dir") == f"{ROOT}/logs"
  assert _constant(spec, "UpdateModelsConfig",
                   "serving_dir") == f"{ROOT}/serving"
  deployment = _parse(spec.deployment_spec,
                      pipeline_spec_pb2.PipelineDeploymentConfig())
  args = _executor(spec, deployment, "Transform").container.args
  assert not any(a.startswith("--runner") for a in args)


@pytest.mark.parametrize("flags,message", [
    (["--output", "{tmp}/missing/pipeline.json"], "does not exist"),
    (["--output", "{tmp}/pipeline.txt"], "must end in .json"),
    (["--output", "{tmp}/pipeline.json", "--logs", "logs"],
     "'logs' is a relative path"),
    (["--output", "{tmp}/pipeline.json", "--pipeline-name", "Coarse_Rank"],
     "pipeline name 'Coarse_Rank'"),
    (["--output", "{tmp}/pipeline.json", "--train-steps", "0"],
     "--train-steps must be >= 1, got 0"),
])
def test_cli_refuses_bad_arguments(tmp_path, capsys, flags, message):
  argv = ["compile-kfp", "--image", IMAGE, "--pipeline-root", ROOT]
  argv += [f.format(tmp=tmp_path) for f in flags]
  assert cli.main(argv) == 2
  assert message in capsys.readouterr().err
  assert os.listdir(tmp_path) == []


def test_compile_kfp_help(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["compile-kfp", "--help"])
  assert exit_info.value.code == 0
  out = capsys.readouterr().out
  for flag in ("--image", "--pipeline-root", "--output", "--logs",
               "--serving-dir", "--pipeline-name", "--train-steps",
               "DataflowRunner"):
    assert flag in out


def _dockerfile():
  """(instruction, arguments) per Dockerfile instruction, comments dropped."""
  with open(os.path.join(REPO, "Dockerfile")) as f:
    lines = [line for line in f.read().splitlines()
             if not line.lstrip().startswith("#")]
  text = re.sub(r"\\\n\s*", " ", "\n".join(lines))
  return [tuple(line.split(None, 1)) for line in text.splitlines()
          if line.strip()]


def _pinned(name):
  with open(os.path.join(REPO, "constraints.txt")) as f:
    pins = dict(line.strip().split("==") for line in f
                if "==" in line and not line.startswith("#"))
  return pins[name]


def test_dockerfile_installs_the_pinned_package():
  instructions = _dockerfile()
  assert instructions[0] == ("FROM", "python:3.11-slim-bookworm")
  env = " ".join(a for i, a in instructions if i == "ENV").split()
  assert "TF_USE_LEGACY_KERAS=1" in env
  copied = {source.rstrip("/") for i, a in instructions
            if i == "COPY" and not a.startswith("--from")
            for source in a.split()[:-1]}
  packages = importlib.metadata.distribution("coarse-rank").read_text(
      "top_level.txt").split()
  assert {"constraints.txt", "setup.py", *packages} <= copied
  runs = " ".join(a for i, a in instructions if i == "RUN")
  assert "pip install --ignore-requires-python -c constraints.txt ." in runs
  # Dataflow workers start from this image: Beam's boot program, of the
  # pinned Beam and the image's Python.
  beam = f"apache/beam_python3.11_sdk:{_pinned('apache-beam')}"
  assert ("COPY", f"--from={beam} /opt/apache/beam /opt/apache/beam") in (
      instructions)
  assert instructions[-1] == ("ENTRYPOINT", '["/opt/apache/beam/boot"]')
  with open(os.path.join(REPO, ".dockerignore")) as f:
    ignored = set(f.read().split())
  assert {".git", ".venv", "demo_run", "**/__pycache__"} <= ignored
