"""Runs the pipeline's Beam stages on Beam's portable runner, with workers in other processes, and checks they equal DirectRunner's.

Dataflow, Flink and Spark run a pipeline through Beam's portable API: the
job goes to a job service, which hands the work to SDK workers in an
environment of their own. Here the job service is embedded in the driver
(`--job_endpoint=embed`) and the environment is EXTERNAL: a Beam worker pool
in a process of its own (testing/beam_workers.py) starts every worker, which
boots as a Beam container's does (testing/beam_boot.py). Both runs go
through `local_runner.run` with the same settings and logs, up to
STOP_AFTER; each compared stage has one test below. The validator's Beam
evaluation (a model is not trained here) scores the DirectRunner run's eval
split with a SavedModel of a fixed rule on both runners.
"""

import collections
import dataclasses
import glob
import json
import os
import socket
import time
from typing import Dict, List

import apache_beam as beam
from apache_beam.options import pipeline_options
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import local_job_service
from components.listwise import encode
from components.listwise import split as split_lib
from components.validation import beam_evaluate
from components.validation import data
from components.validation import scorers
from testing import beam_workers
from testing import evaluation
from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline import run_result
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write

# The last stage both runs reach; a later stage's comparison needs it later.
STOP_AFTER = config_lib.TRANSFORM
WORLD = world_config.WorldConfig(num_requests=300, num_items=600, seed=2)
CONFIG = config_lib.PipelineConfig(stop_after=STOP_AFTER,
                                   pipeline_name="portable-test")
EXAMPLE_SPLITS = (*split_lib.SPLITS, split_lib.CATALOG)
# The label TFX gives the Beam job of each Beam stage (executors outside TFX
# are all "third_party_executor").
# TFX labels an executor outside its own package "third_party_executor":
# Transform's is the project's (components/transform/).
BEAM_JOB_LABELS = {
    config_lib.EXAMPLES: "tfx_executor=third_party_executor",
    config_lib.TRANSFORM: "tfx_executor=third_party_executor",
}


@dataclasses.dataclass(frozen=True)
class Runs:
  """The same pipeline run on DirectRunner and on the portable runner.

  Attributes:
    direct: the DirectRunner run (in memory: the cheapest reference).
    portable: the PortableRunner run.
    portable_args: the Beam arguments of the portable run.
    pool_pid: the worker pool's process id.
    workers: what each worker of the pool recorded as it booted.
    evaluations: runner ("direct", "portable") -> the validator's
      evaluation of the direct run's eval split.
  """
  direct: run_result.RunResult
  portable: run_result.RunResult
  portable_args: List[str]
  pool_pid: int
  workers: List[dict]
  evaluations: Dict[str, dict]


def _evaluate(run: run_result.RunResult, model: str, args: List[str],
              output: str) -> dict:
  """The validator's Beam evaluation of `model` on `run`'s eval split."""
  gen = run_result.EXAMPLE_GEN
  return beam_evaluate.run(
      data.split_files(run.split(gen, "eval_candidates", split_lib.EVAL)),
      data.split_files(run.split(gen, "examples", split_lib.EVAL)),
      {scorers.MODEL: model}, ["10", "5%"], 0.2, output,
      lambda: beam.Pipeline(options=pipeline_options.PipelineOptions(args)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
  root = tmp_path_factory.mktemp("portable")
  logs = str(root / "logs")
  write.write_logs(logs, WORLD)
  direct = local_runner.run(CONFIG, logs, str(root / "direct"),
                            beam_options.beam_args("in_memory"))
  model = evaluation.save_rule_model(str(root / "model"), evaluation.id_hash)
  evaluations = {"direct": _evaluate(
      direct, model, beam_options.beam_args("in_memory"),
      str(root / "direct.json"))}
  pool_dir = root / "pool"
  pool_dir.mkdir()
  with beam_workers.worker_pool(str(pool_dir)) as pool:
    args = beam_options.beam_args(extra=pool.beam_args())
    portable = local_runner.run(CONFIG, logs, str(root / "portable"), args)
    evaluations["portable"] = _evaluate(direct, model, args,
                                        str(root / "portable.json"))
  return Runs(direct, portable, args, pool.pid, pool.workers(), evaluations)


def _running(pid: int) -> bool:
  """Whether process `pid` exists and is not a zombie (Linux /proc)."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      stat = f.read()
  except FileNotFoundError:
    return False
  return stat.rpartition(")")[2].split()[0] != "Z"


def _serialized(folder: str) -> List[bytes]:
  files = sorted(glob.glob(os.path.join(folder, "*.gz")))
  assert files, f"no records in {folder}"
  return [r.numpy() for r in
          tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _records(folder: str) -> collections.Counter:
  """The tf.Examples of a folder as a multiset of decoded feature maps."""
  return collections.Counter(
      tuple(sorted((k, tuple(v)) for k, v in encode.decode(r).items()))
      for r in _serialized(folder))


def _option(worker: dict, name: str):
  """A pipeline option a worker received (portable options are URNs)."""
  return worker["pipeline_options"].get(f"beam:option:{name}:v1")


@pytest.mark.slow
def test_portable_run_used_the_pools_worker_processes(runs):
  assert runs.portable_args[1] == "--runner=PortableRunner"
  assert "--runner=DirectRunner" not in runs.portable_args
  assert [r.state for r in runs.portable.components] == ["ran"] * len(
      runs.portable.components)
  driver = os.getpid()
  assert runs.pool_pid != driver
  # Every worker is a process the pool started, neither the driver nor the
  # pool, and got its job's options from the runner's provision service.
  for worker in runs.workers:
    assert worker["pid"] not in (driver, runs.pool_pid)
    assert worker["ppid"] == runs.pool_pid
    assert _option(worker, "beam_plugins") == [beam_options.TF_EXIT_PLUGIN]
  assert len({w["pid"] for w in runs.workers}) == len(runs.workers)
  # Stopping the pool stopped its workers too (a killed worker that holds
  # TensorFlow takes a moment to exit).
  pids = [runs.pool_pid] + [w["pid"] for w in runs.workers]
  deadline = time.monotonic() + 10
  while any(map(_running, pids)) and time.monotonic() < deadline:
    time.sleep(0.1)
  assert not [pid for pid in pids if _running(pid)]
  # One worker for each Beam job of the run (the embedded job service asks
  # for one per environment, and each job has one), counted by the label
  # TFX gives the job.
  jobs = collections.Counter(
      label for w in runs.workers for label in _option(w, "labels") or ()
      if label.startswith("tfx_executor="))
  assert jobs == collections.Counter(
      label for stage, label in BEAM_JOB_LABELS.items()
      if CONFIG.runs(stage))
  # ... and one for the validator's evaluation, a job outside TFX.
  assert len(runs.workers) == sum(jobs.values()) + 1


@pytest.mark.slow
def test_listwise_examples_equal_directs(runs):
  component = run_result.EXAMPLE_GEN
  for split in EXAMPLE_SPLITS:
    direct = _records(runs.direct.split(component, "examples", split))
    assert direct, split
    assert _records(runs.portable.split(component, "examples",
                                        split)) == direct, split
  assert _records(runs.portable.split(
      component, "eval_candidates", split_lib.EVAL)) == _records(
          runs.direct.split(component, "eval_candidates", split_lib.EVAL))
  reports = [json.loads(tf.io.gfile.GFile(os.path.join(
      r.listwise_report, "report.json")).read())
             for r in (runs.direct, runs.portable)]
  assert reports[0] == reports[1]
  assert reports[0]["tables"]["requests"]["used"] == WORLD.num_requests


def _dense(value) -> np.ndarray:
  if isinstance(value, tf.SparseTensor):
    value = tf.sparse.to_dense(value)
  elif isinstance(value, tf.RaggedTensor):
    value = value.to_tensor()
  return value.numpy()


@pytest.mark.slow
def test_transform_equals_directs(runs):
  component = run_result.TRANSFORM
  for split in (split_lib.TRAIN, split_lib.VALID):
    assert _records(runs.portable.split(
        component, "transformed_examples", split)) == _records(
            runs.direct.split(component, "transformed_examples", split))
  # Both transform graphs (vocabularies, quantile boundaries, item
  # statistics) applied to the same raw examples.
  raw = _serialized(runs.direct.split(run_result.EXAMPLE_GEN, "examples",
                                      split_lib.TRAIN))
  outputs = []
  for run in (runs.direct, runs.portable):
    graph = tft.TFTransformOutput(run.transform_graph)
    parsed = tf.io.parse_example(raw, graph.raw_feature_spec())
    outputs.append({k: _dense(v) for k, v in
                    graph.transform_raw_features(parsed).items()})
  direct, portable = outputs
  assert sorted(portable) == sorted(direct)
  for key, value in direct.items():
    np.testing.assert_array_equal(portable[key], value, err_msg=key)


@pytest.mark.slow
def test_validator_evaluation_equals_directs(runs):
  direct = runs.evaluations["direct"]
  evaluation.assert_same_metrics(runs.evaluations["portable"], direct)
  assert direct["requests"] > 0
  assert 0 < direct["hitrate"][scorers.MODEL]["global"]["5%"] < 1


def _popen_recorder(monkeypatch) -> list:
  """Records every process the worker pool helper starts."""
  started = []
  popen = beam_workers.subprocess.Popen

  def record(*args, **kwargs):
    started.append(popen(*args, **kwargs))
    return started[-1]

  monkeypatch.setattr(beam_workers.subprocess, "Popen", record)
  return started


def test_worker_pool_that_exits_is_reported_with_its_log(tmp_path):
  with pytest.raises(beam_workers.WorkerPoolError,
                     match="exited with status 1 before it listened"):
    with beam_workers.worker_pool(str(tmp_path), python="/bin/false"):
      pytest.fail("the pool cannot have come up")


def test_worker_pool_that_does_not_listen_in_time_is_stopped(
    tmp_path, monkeypatch):
  started = _popen_recorder(monkeypatch)
  with pytest.raises(beam_workers.WorkerPoolError,
                     match=r"did not listen on port \d+ within 0.0 s"):
    with beam_workers.worker_pool(str(tmp_path), startup_timeout=0.0):
      pytest.fail("the pool cannot have come up")
  assert len(started) == 1
  assert started[0].returncode is not None
  assert not _running(started[0].pid)


def test_worker_pool_listens_and_stops(tmp_path, monkeypatch):
  started = _popen_recorder(monkeypatch)
  with beam_workers.worker_pool(str(tmp_path)) as pool:
    assert started[0].pid == pool.pid and started[0].poll() is None
    with socket.create_connection(("localhost", pool.port)):
      pass
    assert pool.beam_args()[-1] == f"--environment_config={pool.address}"
    assert pool.workers() == []
  assert not _running(pool.pid)


def test_job_server_listens_and_stops(tmp_path, monkeypatch):
  started = _popen_recorder(monkeypatch)
  with beam_workers.job_server(str(tmp_path)) as jobs:
    assert started[0].pid == jobs.pid and started[0].poll() is None
    # The project's job service, which keeps every bundle's input.
    assert started[0].args[1:3] == ["-m", local_job_service.__name__]
    with socket.create_connection(("localhost", jobs.port)):
      pass
    assert beam_workers.WorkerPool(1, 2, "", "").beam_args(
        job_endpoint=jobs.endpoint)[:2] == [
            "--runner=PortableRunner", f"--job_endpoint=localhost:{jobs.port}"]
  assert not _running(jobs.pid)
