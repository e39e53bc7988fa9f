"""Tests of the `coarse-rank` command line: help, generate, validate-logs exit codes."""

import argparse
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.listwise import beam_pipeline
from components.listwise import params as params_lib
from components.raw_logs import contract as c
from tfx_pipeline import beam_options
from tfx_pipeline import cli
from tfx_pipeline import config as config_lib
from tfx_pipeline import local_runner
from tfx_pipeline import run_result
from tfx_pipeline.cli import flags

SUBCOMMANDS = ("generate", "validate-logs", "build-examples", "serve",
               "query", "report", "run", "compile-kfp", "demo", "ablate",
               "simulate-ab")


@pytest.mark.parametrize("argv", [["--help"]] + [[s, "--help"]
                                                  for s in SUBCOMMANDS])
def test_help(argv, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(argv)
  assert exit_info.value.code == 0
  assert "usage: coarse-rank" in capsys.readouterr().out


@pytest.fixture(scope="module")
def logs_dir(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("logs"))
  assert cli.main(["generate", "--out", out, "--requests", "120",
                   "--items", "600", "--seed", "5"]) == 0
  return out


def test_generate_then_validate_is_clean(logs_dir, capsys):
  assert cli.main(["validate-logs", logs_dir, "--json"]) == 0
  report = json.loads(capsys.readouterr().out)
  assert report["ok"]
  assert report["rows_read"][c.REQUESTS] == 120
  assert report["rows_read"][c.IMPRESSIONS] == 120 * 100


def test_generate_refuses_non_empty_output(logs_dir, capsys):
  assert cli.main(["generate", "--out", logs_dir, "--requests", "10"]) == 2
  assert "--overwrite" in capsys.readouterr().err


def test_generate_sets_the_fine_ranker_knowledge(logs_dir, tmp_path, capsys):
  narrow = str(tmp_path / "narrow")
  assert cli.main(["generate", "--out", narrow, "--requests", "120",
                   "--items", "600", "--seed", "5", "--fine-head-share",
                   "0.05", "--fine-tail-bias", "2.0"]) == 0
  read = lambda d, t: pq.read_table(os.path.join(d, t)).to_pandas()
  # Same requests and retrieval; only the fine ranker's scores differ.
  assert read(narrow, c.REQUESTS).equals(read(logs_dir, c.REQUESTS))
  default, changed = (read(d, c.CANDIDATES) for d in (logs_dir, narrow))
  assert default[c.ITEM_ID].tolist() == changed[c.ITEM_ID].tolist()
  assert not default[c.FINE_SCORE].equals(changed[c.FINE_SCORE])
  capsys.readouterr()
  assert cli.main(["generate", "--out", str(tmp_path / "bad"),
                   "--fine-head-share", "1.5"]) == 2
  assert "--fine-head-share must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_validate_exit_codes_for_row_and_schema_faults(logs_dir, tmp_path,
                                                       capsys):
  broken = str(tmp_path / "logs")
  shutil.copytree(logs_dir, broken)
  path = os.path.join(broken, c.REQUESTS, "part-00000.parquet")
  requests = pq.read_table(path)
  pq.write_table(pa.concat_tables([requests, requests.slice(0, 2)]), path)
  assert cli.main(["validate-logs", broken, "--json"]) == 1
  report = json.loads(capsys.readouterr().out)
  assert report["faults"][c.REQUESTS] == {"duplicate_key": 2}

  pq.write_table(requests.drop([c.QUERY]), path)
  assert cli.main(["validate-logs", broken]) == 2
  err = capsys.readouterr().err
  assert "requests" in err and "part-00000.parquet" in err and "query" in err


@pytest.mark.parametrize("command", [
    ["validate-logs", "{logs}"],
    ["build-examples", "--logs", "{logs}", "--out", "{out}"],
    ["run", "--logs", "{logs}", "--output", "{out}"],
])
def test_a_table_that_is_a_file_is_a_schema_error(logs_dir, tmp_path, capsys,
                                                  command):
  broken = str(tmp_path / "logs")
  shutil.copytree(logs_dir, broken)
  shutil.rmtree(os.path.join(broken, c.USERS))
  open(os.path.join(broken, c.USERS), "w").close()
  argv = [a.format(logs=broken, out=str(tmp_path / "out")) for a in command]
  assert cli.main(argv) == 2
  assert capsys.readouterr().err.strip() == (
      f"schema error: Raw logs table 'users', file "
      f"'{os.path.join(broken, c.USERS)}': is a file; a table is a folder of "
      ".parquet files")


@pytest.fixture
def read_only_dir(tmp_path):
  """A folder this process cannot write in: mode 0o555, or for root, whom
  modes do not stop, a folder of sysfs."""
  if os.geteuid() == 0:
    if not os.path.isdir("/sys/kernel"):
      pytest.skip("running as root without /sys/kernel")
    yield "/sys/kernel"
    return
  folder = tmp_path / "read_only"
  folder.mkdir()
  folder.chmod(0o555)
  yield str(folder)
  folder.chmod(0o755)


@pytest.mark.parametrize("command", [
    ["build-examples", "--logs", "{logs}", "--out", "{out}"],
    ["run", "--logs", "{logs}", "--output", "{out}"],
    ["demo", "--out", "{out}"],
])
@pytest.mark.parametrize("new_folder", [False, True])
def test_an_output_directory_that_cannot_be_written_is_refused_first(
    logs_dir, read_only_dir, capsys, command, new_folder):
  out = os.path.join(read_only_dir, "out") if new_folder else read_only_dir
  argv = [a.format(logs=logs_dir, out=out) for a in command]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  assert err.startswith(f"error: cannot write to the output directory {out}:")
  assert len(err.strip().splitlines()) == 1


def test_build_examples(logs_dir, tmp_path, capsys):
  out = str(tmp_path / "examples")
  assert cli.main(["build-examples", "--logs", logs_dir, "--out", out,
                   "--list-size", "25", "--num-random", "4",
                   "--eval-share", "0.2"]) == 0
  printed = capsys.readouterr().out
  assert "requests" in printed and "lists.train" in printed
  report = json.load(open(os.path.join(out, "report", "report.json")))
  lists = report["lists"]
  assert lists["train"] + lists["valid"] + lists["eval"] == 120
  assert lists["eval"] == pytest.approx(24, abs=2)
  assert lists["valid"] == pytest.approx(12, abs=2)
  for split in ("train", "valid", "eval", "catalog", "eval_candidates"):
    assert os.listdir(os.path.join(out, split))
  # A second run never mixes its shards with the first's: refused, or with
  # --overwrite the folder replaced whole.
  stale = os.path.join(out, "train", "data_tfrecord-00009-of-00010.gz")
  open(stale, "w").close()
  assert cli.main(["build-examples", "--logs", logs_dir, "--out", out]) == 2
  assert f"--out {out} already holds outputs" in capsys.readouterr().err
  assert os.path.exists(stale)
  assert cli.main(["build-examples", "--logs", logs_dir, "--out", out,
                   "--overwrite", "--list-size", "25"]) == 0
  assert not os.path.exists(stale)
  assert sorted(os.listdir(out)) == sorted(beam_pipeline.OutputPaths.under(
      "").__dict__)
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


def test_build_examples_exit_codes(logs_dir, tmp_path, capsys):
  broken = str(tmp_path / "logs")
  shutil.copytree(logs_dir, broken)
  path = os.path.join(broken, c.ITEMS, "part-00000.parquet")
  items = pq.read_table(path)
  assert cli.main(["build-examples", "--logs", broken, "--out",
                   str(tmp_path / "a"), "--max-quarantine-share", "0.0"]) == 0
  prices = items[c.PRICE].to_pylist()
  prices[0] = float("nan")
  pq.write_table(items.set_column(items.schema.get_field_index(c.PRICE),
                                  c.PRICE, pa.array(prices)), path)
  assert cli.main(["build-examples", "--logs", broken, "--out",
                   str(tmp_path / "b"), "--max-quarantine-share", "0.0"]) == 1
  assert "non_finite_price" in capsys.readouterr().err
  pq.write_table(items.drop([c.BRAND]), path)
  assert cli.main(["build-examples", "--logs", broken, "--out",
                   str(tmp_path / "c")]) == 2
  assert "brand" in capsys.readouterr().err
  # A file whose first bytes were overwritten: its footer is intact, but it
  # is refused by name before any work, and nothing is written.
  pq.write_table(items, path)
  with open(path, "r+b") as f:
    f.write(b"\0" * 64)
  assert cli.main(["build-examples", "--logs", broken, "--out",
                   str(tmp_path / "d")]) == 2
  err = capsys.readouterr().err
  assert "part-00000.parquet" in err and "not a Parquet file" in err
  assert "Traceback" not in err
  assert not (tmp_path / "d").exists()


def test_dataclass_flags_round_trip():
  parser = argparse.ArgumentParser()
  flags.add_dataclass_flags(parser, params_lib.ListwiseParams(), "params")
  args = parser.parse_args(["--alpha", "0", "--list-size", "7"])
  assert flags.dataclass_from_args(params_lib.ListwiseParams, args) == (
      params_lib.ListwiseParams(alpha=0.0, list_size=7))


def test_config_flags_cover_every_setting_with_its_default():
  parser = argparse.ArgumentParser()
  flags.add_config_flags(parser)
  assert flags.config_from_args(parser.parse_args([])) == (
      config_lib.PipelineConfig())
  args = parser.parse_args([
      "--train-steps", "7", "--stop-after", "transform", "--list-size", "9",
      "--model-learning-rate", "0.1", "--model-revised-softmax", "false",
      "--transform-min-frequency", "3", "--ks", "5", "50", "--threshold",
      "0.4", "--compare-to-last-blessed", "no", "--model-name", "m"])
  assert flags.config_from_args(args) == config_lib.PipelineConfig().replace(
      train_steps=7, stop_after="transform", listwise__list_size=9,
      hparams__learning_rate=0.1, hparams__revised_softmax=False,
      preprocessing__min_frequency=3, validation__ks=("5", "50"),
      validation__threshold=0.4, validation__compare_to_last_blessed=False,
      model_name="m")
  with pytest.raises(SystemExit):  # argparse refuses an unknown stage.
    parser.parse_args(["--stop-after", "serve"])
  with pytest.raises(flags.UsageError,
                     match="--model-learning-rate must be > 0, got 0.0"):
    flags.config_from_args(parser.parse_args(["--model-learning-rate", "0"]))


def test_config_flags_take_another_default():
  parser = argparse.ArgumentParser()
  default = config_lib.PipelineConfig(train_steps=11).replace(
      validation__ks=("1", "2%"))
  flags.add_config_flags(parser, default)
  assert flags.config_from_args(parser.parse_args([])) == default


def test_report_prints_the_newest_or_a_named_run(pushed, capsys):
  run_dir = pushed.result.layout.output_dir
  metrics_uri = pushed.result.metrics
  assert cli.main(["report", run_dir]) == 0
  out = capsys.readouterr().out
  assert metrics_uri in out
  assert "decision on global hitrate@5%: BLESSED" in out
  assert os.path.join(metrics_uri, "hitrate_at_k.png") in out
  execution = pushed.result.component("HitrateValidator").execution_id
  assert cli.main(["report", run_dir, "--run", str(execution), "--json"]) == 0
  assert json.loads(capsys.readouterr().out)["blessed"] is True
  assert cli.main(["report", run_dir, "--run", "99999"]) == 2
  assert "no hitrate metrics of run 99999" in capsys.readouterr().err
  assert cli.main(["report", str(os.path.dirname(run_dir))]) == 2
  assert "no ML Metadata store" in capsys.readouterr().err


def _with_blessing(result, blessed: bool):
  """`result` as if its validator had (not) blessed the model."""
  runs = [dataclasses.replace(run, properties={
      uri: {**values, "blessed": int(blessed)}
      for uri, values in run.properties.items()})
          if run.component == run_result.VALIDATOR else run
          for run in result.components]
  return dataclasses.replace(result, components=runs)


@pytest.mark.parametrize("blessed, require, status", [
    (True, False, 0), (True, True, 0), (False, False, 0), (False, True, 3)])
def test_run_exits_3_when_blessing_is_required_and_missing(
    pushed, monkeypatch, capsys, blessed, require, status):
  result = _with_blessing(pushed.result, blessed)
  monkeypatch.setattr(local_runner, "run", lambda *args, **kwargs: result)
  argv = ["run", "--logs", "unused", "--output", "unused"]
  assert cli.main(argv + ["--require-blessing"] * require) == status
  captured = capsys.readouterr()
  assert "decision on global hitrate@5%" in captured.out
  assert ("not blessed (--require-blessing)" in captured.err) == (
      status == 3)


def test_require_blessing_needs_the_validation(capsys):
  assert cli.main(["run", "--logs", "unused", "--output", "unused",
                   "--require-blessing", "--stop-after", "train"]) == 2
  assert "--require-blessing needs the validation" in capsys.readouterr().err


def test_a_command_runs_with_only_the_program_name_in_sys_argv(monkeypatch):
  # TFX's Beam executors parse sys.argv with absl's flags, where -v is
  # absl's --verbosity: `coarse-rank -v run` failed in the first of them.
  # pylint: disable=g-import-not-at-top
  from absl import flags as absl_flags
  import absl.logging  # pylint: disable=unused-import  # Defines -v.
  # pylint: enable=g-import-not-at-top
  command = ["coarse-rank", "-v", "run", "--logs", "l", "--output", "o"]
  monkeypatch.setattr(sys, "argv", list(command))
  seen = []

  def handler_call(handler, args):
    del handler
    seen.append((list(sys.argv), args.verbose, args.logs))
    absl_flags.FLAGS(sys.argv, known_only=True)  # As BaseBeamExecutor does.
    return 0

  monkeypatch.setattr(cli.errors, "call", handler_call)
  assert cli.main() == 0
  assert seen == [(["coarse-rank"], True, "l")]
  assert sys.argv == command
  with pytest.raises(absl_flags.IllegalFlagValueError, match="verbosity"):
    absl_flags.FLAGS(command, known_only=True)


def test_a_run_stopped_early_prints_its_outputs(logs_dir, tmp_path, capsys):
  out = str(tmp_path / "out")
  assert cli.main(["-v", "run", "--logs", logs_dir, "--output", out,
                   "--stop-after", config_lib.EXAMPLES, "--beam-mode",
                   "in_memory"]) == 0
  printed = capsys.readouterr().out.splitlines()
  result = run_result.read_run(out)
  assert [r.component for r in result.components] == [
      run_result.EXAMPLE_GEN]
  assert printed[0] == f"stopped after {config_lib.EXAMPLES}; outputs:"
  assert (f"  {run_result.EXAMPLE_GEN}.examples: {result.examples}"
          in printed)


def test_help_imports_no_tensorflow_beam_or_tfx():
  code = ("import sys; from tfx_pipeline import cli; cli.build_parser(); "
          "heavy = {'tensorflow', 'apache_beam', 'tfx'} & set(sys.modules); "
          "assert not heavy, heavy")
  subprocess.run([sys.executable, "-c", code], check=True)


def test_generate_a_world_of_the_suite_with_one_flag_overridden(tmp_path):
  out = str(tmp_path / "sparse")
  assert cli.main(["generate", "--out", out, "--world", "sparse",
                   "--requests", "150", "--items", "7000", "--json"]) == 0
  items = pq.read_table(os.path.join(out, c.ITEMS)).to_pandas()
  assert len(items) == 7000  # The flag given replaces the preset's 40k.
  # The rest is the preset's: numbered categories, 400 of them at most.
  assert items[c.CATEGORY].str.fullmatch(r"cat\d{3}").all()
  assert items[c.CATEGORY].nunique() > 24
  with pytest.raises(SystemExit):  # argparse names the choices.
    cli.main(["generate", "--out", str(tmp_path / "x"), "--world", "moon"])


def test_run_help_shows_the_beam_arguments(capsys):
  with pytest.raises(SystemExit):
    cli.main(["run", "--help"])
  out = " ".join(capsys.readouterr().out.split())
  assert "BEAM_ARG" in out
  assert "a --runner (e.g. --runner=PortableRunner" in out


def test_beam_arguments_after_the_separator():
  parse = lambda *argv: cli.build_parser().parse_args(
      ["run", "--logs", "l", "--output", "o", *argv])
  direct = flags.beam_args_from(parse("--beam-workers", "3", "--",
                                      "--direct_runner_bundle_repeat=1"))
  assert direct == ["--runner=DirectRunner",
                    "--direct_running_mode=multi_processing",
                    "--direct_num_workers=3",
                    f"--beam_plugins={beam_options.TF_EXIT_PLUGIN}",
                    "--direct_runner_bundle_repeat=1"]
  portable = ["--runner=PortableRunner", "--job_endpoint=embed",
              "--environment_type=EXTERNAL",
              "--environment_config=localhost:50000"]
  # Another runner replaces the DirectRunner and its options.
  assert flags.beam_args_from(parse("--beam-workers", "3", "--",
                                    *portable)) == [
      f"--beam_plugins={beam_options.TF_EXIT_PLUGIN}", *portable]


def test_an_unknown_beam_option_is_passed_on_with_a_warning(caplog):
  parse = lambda *argv: cli.build_parser().parse_args(
      ["run", "--logs", "l", "--output", "o", "--", *argv])
  with caplog.at_level(logging.WARNING):
    args = flags.beam_args_from(parse(
        "--bogus_option=1", "--no_pipeline_type_check",
        "--direct_runner_bundle_repeat=1", "--flink_parallelism=2"))
  assert "--bogus_option=1" in args and "--flink_parallelism=2" in args
  # Beam's own options are known; a typo and an option Beam does not
  # define are named (and still passed on).
  (record,) = [r for r in caplog.records if "Beam options" in r.getMessage()]
  assert record.getMessage().endswith(": --bogus_option, --flink_parallelism")
  assert flags.unknown_beam_options(["--runner=DirectRunner",
                                     "--job_endpoint=embed"]) == []


@pytest.mark.parametrize("beam_args, message", [
    (["runner=DataflowRunner"], "'runner=DataflowRunner' is not an option"),
    (["--project", "P"], "'P' is not an option"),
    (["-r=x"], "'-r=x' is not an option"),
    (["--runner"], "--runner needs a value"),
])
@pytest.mark.parametrize("command", [
    ["run", "--logs", "unused", "--output", "unused"],
    ["build-examples", "--logs", "unused", "--out", "unused"],
    ["compile-kfp", "--image", "i", "--pipeline-root", "/r", "--output",
     "unused.yaml"],
])
def test_a_malformed_beam_argument_is_a_usage_error(
    command, beam_args, message, monkeypatch, capsys):
  def refuse(*args, **kwargs):
    raise AssertionError("work started despite a malformed Beam argument")

  monkeypatch.setattr(local_runner, "run", refuse)
  assert cli.main(command + ["--"] + beam_args) == 2
  err = capsys.readouterr().err
  assert message in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--k-main", "150%"], "error: --k-main: a cutoff is a positive integer"),
    (["--ks", "5%", "0"], "error: --ks: a cutoff is a positive integer"),
    (["--train-steps", "-5"], "error: --train-steps must be >= 1, got -5"),
    (["--model-learning-rate", "0"],
     "error: --model-learning-rate must be > 0"),
    (["--transform-min-frequency", "0"],
     "error: --transform-min-frequency must be >= 1"),
    (["--num-random", "-1"], "error: --num-random must be >= 0"),
])
def test_a_bad_setting_is_refused_at_once_naming_the_flag(argv, message):
  # In a fresh process: the refusal comes before TensorFlow, Beam or TFX
  # is imported, so within a second or two.
  code = ("import sys; from tfx_pipeline import cli; "
          f"status = cli.main(['run', '--logs', 'x', '--output', 'y', "
          f"*{argv!r}]); "
          "heavy = {'tensorflow', 'apache_beam', 'tfx'} & set(sys.modules); "
          "assert not heavy, heavy; sys.exit(status)")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, check=False)
  assert proc.returncode == 2, proc.stderr
  assert message in proc.stderr, proc.stderr


def test_generate_names_the_flag_of_a_size_the_world_refuses(tmp_path,
                                                            capsys):
  assert cli.main(["generate", "--out", str(tmp_path / "x"), "--items",
                   "400"]) == 2
  err = capsys.readouterr().err
  assert "world 'default': need exposed_size <= coarse_size <= " in err
  assert "<= --items, got 10, 100, 500, 400" in err
  assert not (tmp_path / "x").exists()


def test_logs_that_do_not_exist_are_named(tmp_path, capsys):
  missing = str(tmp_path / "nowhere")
  assert cli.main(["validate-logs", missing]) == 2
  assert f"the logs directory {missing!r} does not exist" in (
      capsys.readouterr().err)


def test_the_demo_serves_the_pushed_version_when_its_run_is_not_blessed(
    pushed, tmp_path, monkeypatch):
  from tfx_pipeline import demo  # pylint: disable=g-import-not-at-top
  from tfx_pipeline.synthetic import write  # pylint: disable=g-import-not-at-top

  # This run's model was refused; an earlier run's blessed version is the
  # one in the serving folder.
  monkeypatch.setattr(local_runner, "run",
                      lambda *args, **kwargs: _with_blessing(pushed.result,
                                                             False))
  monkeypatch.setattr(write, "write_logs",
                      lambda *args, **kwargs: {"rows": {}})
  text = demo.run_demo(str(tmp_path), demo.DemoConfig())
  version = os.path.basename(pushed.export_dir)
  assert (f"this run's model was not blessed; serving version {version}, "
          "pushed by an earlier run at ") in text
  assert "gRPC Predict:" in text
  assert f"from model version {version}" in text
  assert "no model was blessed" not in text
