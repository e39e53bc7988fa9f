"""Runs ListwiseExampleGen and Transform through the local runner on tiny logs."""

import glob
import json
import os
import tempfile

import pytest
import tensorflow as tf
from tfx.orchestration import metadata
from tfx.types import artifact_utils
from tfx.utils import dependency_utils

from components.listwise import encode
from components.listwise import params as params_lib
from models import features as f
from tfx_pipeline import beam_options
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline import run_result
from tfx_pipeline.synthetic import config as world_config
from tfx_pipeline.synthetic import write

# TFX's own, before any local run in this process replaced it.
_PACKAGE_TFX = dependency_utils.make_beam_dependency_flags


def _read(folder):
  files = glob.glob(os.path.join(folder, "*.gz"))
  assert files, folder
  return [encode.decode(r.numpy()) for r in
          tf.data.TFRecordDataset(files, compression_type="GZIP")]


@pytest.mark.e2e
def test_component_in_local_dag_runner(tmp_path, monkeypatch):
  # The run's temporary files go here; TFX's packaging is not skipped yet.
  scratch = tmp_path / "tmp"
  scratch.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(scratch))
  monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                      _PACKAGE_TFX)
  logs = str(tmp_path / "logs")
  write.write_logs(logs, world_config.WorldConfig(num_requests=200,
                                                 num_items=600, seed=2))
  # 10 exposed + 10 unexposed + 25 negatives (random ones, or from the
  # request's logged candidate set where it has one) + out-of-scene
  # purchases do not fit in the default 40 slots: some negatives are cut
  # and counted.
  params = params_lib.ListwiseParams(num_random=25,
                                     num_candidate_negatives=25, seed=3)
  config = config_lib.PipelineConfig(listwise=params,
                                     stop_after=config_lib.TRANSFORM,
                                     pipeline_name="listwise-test")
  out = str(tmp_path / "out")
  beam = beam_options.beam_args("in_memory")
  result = local_runner.run(config, logs, out, beam)
  assert [r.component for r in result.components] == [
      "ListwiseExampleGen", "ListwiseSchemaGen", "Transform"]
  # Its two Beam steps left no package of TFX (components/local_packaging.py).
  assert not glob.glob(str(scratch / "*" / "build" / "tfx")), os.listdir(
      scratch)

  with metadata.Metadata(metadata.sqlite_metadata_connection_config(
      result.layout.metadata_path)) as store:
    artifacts = {a.type_id: a for a in store.store.get_artifacts()}
    types = {t.id: t.name for t in store.store.get_artifact_types()}
  by_type = {}
  for type_id, a in artifacts.items():
    by_type.setdefault(types[type_id], []).append(a)
  assert "Examples" in by_type and "components.ListwiseReport" in by_type

  gen = run_result.EXAMPLE_GEN
  train = _read(result.split(gen, "examples", "train"))
  valid = _read(result.split(gen, "examples", "valid"))
  evals = _read(result.split(gen, "examples", "eval"))
  assert len(train) + len(valid) + len(evals) == 200
  assert len(valid) == pytest.approx(20, abs=3)
  assert len(evals) == pytest.approx(20, abs=3)
  ts = lambda examples: [int(e[f.TS][0]) for e in examples]
  assert max(ts(train)) < min(ts(valid)) <= max(ts(valid)) < min(ts(evals))
  for example in train[:20]:
    assert len(example[f.ITEM_ID]) == 40
    assert sum(example[f.MASK]) == 40
  sets = _read(result.split(gen, "eval_candidates", "eval"))
  assert {s[f.REQUEST_ID][0] for s in sets} == {
      e[f.REQUEST_ID][0] for e in evals}
  with open(os.path.join(result.listwise_report, "report.json")) as fh:
    report = json.load(fh)
  assert report["tables"]["requests"] == {
      "read": 200, "used": 200, "quarantined": 0,
      "quarantined_by_reason": {}, "coerced_by_reason": {},
      "skipped_files": 0}
  assert report["lists"]["train"] == len(train)
  assert report["lists"]["valid"] == len(valid)
  assert report["lists"]["eval"] == len(evals)
  # One catalog list per 40 of the 600 items.
  assert report["lists"]["catalog"] == 15
  assert len(_read(result.split(gen, "examples", "catalog"))) == 15
  overflow = sum(45 + e[f.SAMPLE_TYPE].count(f.SAMPLE_OUT_OF_SCENE) - 40
                 for e in train + valid + evals)
  assert report["lists"]["truncated_items"] == overflow
  split_names = artifact_utils.decode_split_names(
      by_type["Examples"][0].properties["split_names"].string_value)
  assert sorted(split_names) in (
      ["catalog", "eval", "train", "valid", "valid_candidates"], ["eval"])

  # Transform ran on the examples: transformed train split with id features
  # of the list's shape, padding-free lists here (every slot is filled).
  parsed = _read(result.split(run_result.TRANSFORM, "transformed_examples",
                              "train"))[0]
  item_ids = parsed[f.transformed_name(f.ITEM_ID)]
  assert len(item_ids) == 40 and min(item_ids) > f.PAD_ID

  # The same settings on the same files reuse every result; a new or
  # rewritten log file is seen and the examples are built again.
  examples_only = config.replace(stop_after=config_lib.EXAMPLES)
  states = lambda r: [(c.component, c.state) for c in r.components]
  again = local_runner.run(examples_only, logs, out, beam)
  assert states(again) == [(gen, "cached")]
  assert again.examples == result.examples
  part = os.path.join(logs, "transactions", "part-00000.parquet")
  os.utime(part, ns=(os.stat(part).st_atime_ns,
                     os.stat(part).st_mtime_ns + 10**9))
  touched = local_runner.run(examples_only, logs, out, beam)
  assert states(touched) == [(gen, "ran")]
  os.link(part, os.path.join(logs, "transactions", "part-00001.parquet"))
  added = local_runner.run(examples_only, logs, out, beam)
  assert states(added) == [(gen, "ran")]
  assert len({result.examples, touched.examples, added.examples}) == 3


def test_logs_fingerprint_sees_new_changed_and_removed_table_files(tmp_path):
  from components.raw_logs import files as log_files  # pylint: disable=g-import-not-at-top
  fingerprint = lambda: log_files.LogFiles(str(tmp_path)).fingerprint()
  (tmp_path / "requests").mkdir()
  (tmp_path / "requests" / "a.parquet").write_bytes(b"x")
  first = fingerprint()
  assert fingerprint() == first
  (tmp_path / "requests" / "notes.txt").write_bytes(b"not read")
  (tmp_path / "elsewhere.parquet").write_bytes(b"not a table's")
  assert fingerprint() == first  # Files the stage does not read.
  (tmp_path / "requests" / "b.parquet").write_bytes(b"y")
  second = fingerprint()
  assert second != first
  (tmp_path / "requests" / "b.parquet").write_bytes(b"yy")
  assert fingerprint() not in (first, second)
  (tmp_path / "requests" / "b.parquet").unlink()
  assert fingerprint() == first
