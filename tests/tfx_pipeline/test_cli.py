"""Tests of the `coarse-rank` command line: help, generate, validate-logs exit codes."""

import argparse
import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.listwise import params as params_lib
from components.raw_logs import contract as c
from tfx_pipeline import cli
from tfx_pipeline import flags

SUBCOMMANDS = ("generate", "validate-logs", "build-examples", "serve",
               "query", "report", "run", "compile-kfp", "demo", "ablate")


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
  assert "fine_head_share must be in [0, 1]" in capsys.readouterr().err


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


def test_build_examples(logs_dir, tmp_path, capsys):
  out = str(tmp_path / "examples")
  assert cli.main(["build-examples", "--logs", logs_dir, "--out", out,
                   "--list-size", "25", "--num-random", "4",
                   "--eval-share", "0.2"]) == 0
  printed = capsys.readouterr().out
  assert "requests" in printed and "lists.train" in printed
  report = json.load(open(os.path.join(out, "report", "report.json")))
  assert report["lists"]["train"] + report["lists"]["eval"] == 120
  assert report["lists"]["eval"] == pytest.approx(24, abs=2)
  assert os.listdir(os.path.join(out, "train"))


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


def test_dataclass_flags_round_trip():
  parser = argparse.ArgumentParser()
  flags.add_dataclass_flags(parser, params_lib.ListwiseParams, "params")
  args = parser.parse_args(["--alpha", "0", "--list-size", "7"])
  assert flags.dataclass_from_args(params_lib.ListwiseParams, args) == (
      params_lib.ListwiseParams(alpha=0.0, list_size=7))


def _metrics_run(root, execution_id, blessed):
  folder = os.path.join(root, "pipeline", "HitrateValidator", "metrics",
                        str(execution_id))
  os.makedirs(folder)
  row = {"10": 0.25, "100": None}
  report = {"ks": [10, 100], "k_main": 100, "requests": 7, "purchases": 4,
            "head_min_exposures": 3, "blessed": blessed,
            "reasons": [] if blessed else ["candidate hitrate is missing"],
            "hitrate": {"model": {s: row for s in (
                "global", "in_scene", "out_of_scene", "head", "tail")}},
            "ndcg@10": {"model": 0.5}}
  with open(os.path.join(folder, "metrics.json"), "w") as f:
    json.dump(report, f)


def test_report_prints_the_newest_or_a_named_run(tmp_path, capsys):
  root = str(tmp_path)
  _metrics_run(root, 3, blessed=True)
  _metrics_run(root, 12, blessed=False)  # newer: ids compare as numbers
  assert cli.main(["report", root]) == 0
  out = capsys.readouterr().out
  assert "metrics/12/metrics.json" in out and "NOT BLESSED" in out
  assert "0.250" in out and "n/a" in out
  assert "metrics/12/hitrate_at_k.png" in out
  assert cli.main(["report", root, "--run", "3"]) == 0
  assert "decision on global hitrate@100: BLESSED" in capsys.readouterr().out
  assert cli.main(["report", root, "--run", "99"]) == 2
  assert "no hitrate metrics for run 99" in capsys.readouterr().err
