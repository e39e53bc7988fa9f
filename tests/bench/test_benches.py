"""Every benchmark runs from a fresh clone: each script, as `make bench` starts it, at a tiny size."""

import glob
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _bench(script, *args):
  """Runs `python bench/<script> args` from the repository root; its stdout."""
  proc = subprocess.run(
      [sys.executable, os.path.join("bench", script), *args], cwd=REPO,
      capture_output=True, text=True, check=False, timeout=900,
      env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
  assert proc.returncode == 0, proc.stderr[-4000:]
  return proc.stdout


def test_every_bench_script_is_tested():
  scripts = sorted(n for n in os.listdir(os.path.join(REPO, "bench"))
                   if n.endswith(".py"))
  assert scripts == ["choose_defaults.py", "generate.py", "listwise.py",
                     "pipeline.py", "quality_suite.py", "serving_latency.py",
                     "train.py", "validator.py", "worlds.py"]


def test_no_bench_script_shadows_a_package():
  # `python bench/x.py` puts bench/ first on sys.path: a script named like a
  # package of the project would be imported instead of it, by every bench.
  packages = {n for n in os.listdir(REPO)
              if os.path.isfile(os.path.join(REPO, n, "__init__.py"))}
  assert {"serving", "models", "components"} <= packages
  scripts = {n[:-3] for n in os.listdir(os.path.join(REPO, "bench"))
             if n.endswith(".py")}
  assert not scripts & packages


@pytest.mark.slow
def test_generate():
  out = _bench("generate.py", "--requests", "200")
  assert "generate / rewrite time ratio" in out


@pytest.mark.slow
def test_listwise():
  out = _bench("listwise.py", "--requests", "300", "--workers", "2")
  assert "outputs agree: True" in out


@pytest.mark.slow
def test_train(pushed):
  # On the shared run's logs and output: its Transform is reused.
  out = _bench("train.py", "--logs", pushed.logs_dir, "--output",
               pushed.result.layout.output_dir, "--steps", "3", "--rounds",
               "1", "--warmup-steps", "2", "--batch-size", "16",
               "--cached-batches", "2", "--candidates", "50", "--calls", "3",
               "--beam-mode", "in_memory")
  assert "ratio model / baseline" in out
  assert "p99" in out


@pytest.mark.slow
def test_train_reruns_on_its_own_output(tmp_path):
  args = ("--requests", "300", "--output", str(tmp_path), "--steps", "2",
          "--rounds", "1", "--warmup-steps", "1", "--batch-size", "8",
          "--cached-batches", "1", "--candidates", "20", "--calls", "1",
          "--beam-mode", "in_memory")
  assert "300 generated requests" in _bench("train.py", *args)
  written = _files_and_times(tmp_path)
  assert "ratio model / baseline" in _bench("train.py", *args)
  # The same logs and run were found again: nothing generated or rewritten.
  assert _files_and_times(tmp_path) == written
  assert sorted(os.listdir(tmp_path)) == ["logs-300-seed0", "metadata.sqlite",
                                          "pipeline"]


def _files_and_times(root):
  """path -> mtime of the logs and artifacts under `root` (not TFX's records)."""
  return {path: os.stat(path).st_mtime_ns
          for path in glob.glob(os.path.join(root, "**"), recursive=True)
          if os.path.isfile(path) and "/.system/" not in path
          and not path.endswith("metadata.sqlite")}


@pytest.mark.slow
@pytest.mark.e2e
def test_pipeline():
  out = _bench("pipeline.py", "--requests", "300", "--train-steps", "3",
               "--beam-mode", "in_memory")
  assert "whole run" in out and "HitrateValidator" in out
  assert "of the job server - MB" in out  # In the run's process.


@pytest.mark.slow
@pytest.mark.e2e
def test_pipeline_with_the_runner_out_of_process():
  out = _bench("pipeline.py", "--requests", "300", "--train-steps", "3",
               "--runner", "portable")
  job_server_mb = re.search(r"of the job server ([\d,]+) MB", out)
  assert job_server_mb and int(job_server_mb[1].replace(",", "")) > 0, out
  assert re.search(r"\nTransform +\d+ / [\d,]+ / [\d,]+ / [\d,]+\n", out)


@pytest.mark.slow
def test_serving(pushed):
  # The shared model stands in for the towers-only one too: the head's
  # cost section runs, comparing the model with itself.
  out = _bench("serving_latency.py", "--model-base-path",
               os.path.dirname(pushed.export_dir), "--logs", pushed.logs_dir,
               "--towers-only-base-path", os.path.dirname(pushed.export_dir),
               "--seconds", "0.3", "--candidates", "50", "120")
  for mode in ("in-process signature", "gRPC floor, no work", "gRPC",
               "gRPC, batching", "REST"):
    assert f"\n{mode} " in out
  for candidates in (50, 120):
    assert (f"{candidates} candidates: gRPC p99 / in-process p99, 1 client: "
            in out)
    assert (f"{candidates} candidates: batched gRPC QPS / in-process QPS, "
            "16 clients: " in out)
    assert (f"{candidates} candidates, the gRPC floor (no server work): "
            "p99 / in-process p99, 1 client: " in out)
    # CPU per request: the server's process for every mode with a server,
    # none for the in-process calls; this process's for every mode.
    rows = dict(re.findall(
        rf"(?m)^(.+?) +{candidates} +16(?: +[\d.]+){{3}} +([\d.]+|-) +[\d.]+$",
        out))
    assert rows["in-process signature"] == "-", out
    for mode in ("gRPC floor, no work", "gRPC", "gRPC, batching"):
      assert float(rows[mode]) > 0.05, out
    cpu = re.search(
        rf"{candidates} candidates, CPU ms per request, 16 clients: batched "
        r"server ([\d.]+) \+ its clients ([\d.]+), in-process ([\d.]+); "
        r"batched server / in-process: ([\d.]+)$", out, re.MULTILINE)
    assert cpu, out
    assert cpu[1] == rows["gRPC, batching"]
    assert float(cpu[4]) == pytest.approx(float(cpu[1]) / float(cpu[3]),
                                          abs=0.01 + 0.01 * float(cpu[4]))
    head = re.search(
        rf"  {candidates} candidates: p50 ([\d.]+) / ([\d.]+) ms = ([\d.]+), "
        rf"p99 ([\d.]+) / ([\d.]+) ms = ([\d.]+) \(target <= 1.5\)", out)
    assert head, out
    assert float(head[3]) == pytest.approx(
        float(head[1]) / float(head[2]), abs=0.01 + 0.01 * float(head[3]))


@pytest.mark.slow
def test_validator(pushed):
  # The shared run's model and eval split: nothing is generated or trained.
  out = _bench("validator.py", "--run", pushed.result.layout.output_dir,
               "--beam-mode", "in_memory")
  assert "time ratio Beam / in memory" in out
  assert "(identical)" in out


@pytest.mark.slow
def test_worlds():
  out = _bench("worlds.py", "--requests", "300", "--worlds", "default",
               "learned_fine")
  assert '"world": "learned_fine"' in out and '"fine_ranker"' in out


@pytest.mark.slow
@pytest.mark.e2e
def test_quality_suite(tmp_path):
  report = tmp_path / "suite.md"
  # One world (the sparse one: a fitted fine ranker, occasional users) keeps
  # the test short; the tables are tested on hand-made results
  # (tests/tfx_pipeline/test_suite.py).
  out = _bench("quality_suite.py", "--worlds", "sparse",
               "--seeds", "0", "--requests", "300", "--out",
               str(tmp_path / "work"), "--report", str(report),
               "--train-steps", "3", "--eval-steps", "1", "--beam-mode",
               "in_memory")
  text = report.read_text()
  assert text in out
  assert "### sparse" in text and "### default" not in text
  assert "| sparse | model − best_yardstick | global@5% |" in text
  assert "| tfrs_baseline |" in text and "| popularity |" in text
  assert "| sales |" in text and "| counts |" in text
  saved = json.loads((tmp_path / "work" / "suite.json").read_text())
  assert saved["seeds"] == [0] and saved["command"] in text
  assert set(saved["outcome"]["results"]["sparse"]) == {
      "model", "fine_ranker", "popularity", "sales", "counts",
      "tfrs_baseline"}
  model = saved["outcome"]["results"]["sparse"]["model"]["0"]
  assert 0 < model["chosen_step"] <= model["train_steps"] == 3
  # The report again from the saved numbers, running nothing.
  again = tmp_path / "again.md"
  _bench("quality_suite.py", "--out", str(tmp_path / "work"), "--report",
         str(again), "--from-results")
  assert again.read_text() == text


@pytest.mark.slow
def test_choose_defaults(tmp_path):
  report = tmp_path / "defaults.md"
  # Two worlds, so each is left out once; one change; tiny runs.
  out = _bench("choose_defaults.py", "--worlds", "default", "sparse",
               "--changes", "w_in_batch=0", "--requests", "300", "--out",
               str(tmp_path / "work"), "--report", str(report),
               "--train-steps", "3", "--eval-steps", "1", "--beam-mode",
               "in_memory")
  text = report.read_text()
  assert text in out
  assert "| w_in_batch=0 |" in text and "fresh_market" in text
  saved = json.loads((tmp_path / "work" / "defaults.json").read_text())
  assert set(saved["runs"]) == {"defaults", "w_in_batch=0",
                                "best_yardstick"}
  assert set(saved["runs"]["defaults"]) == {"default", "sparse"}
  again = tmp_path / "again.md"
  _bench("choose_defaults.py", "--out", str(tmp_path / "work"), "--report",
         str(again), "--from-results")
  assert again.read_text() == text
