"""Benchmark of the defaults' choice: each candidate change to the defaults on every development world, judged leave one world out, into docs/quality/defaults.md.

Every pipeline flag of `coarse-rank run` sets the defaults under test.

For each development world (tfx_pipeline/synthetic/worlds.py, never a
held-out one), generates its logs once at --requests (half the suite's size
by default, so the suite then runs on other logs of the same worlds), runs
the pipeline up to the hitrate validation with the defaults and with each
change of tfx_pipeline/ablation/defaults.py:CHANGES (local_runner.run,
cached: a rerun trains nothing), and judges each change leave one world
out (defaults.verdict). Writes the table with every run's global hitrate
at 5% and 10% and the best yardstick's, prints it, and keeps the numbers in
<out>/defaults.json (`--from-results` rewrites the report from them).

    python bench/choose_defaults.py [--requests 10000] [--model-seed 0]
        [--out defaults_run] [--report docs/quality/defaults.md]
        [--from-results]
"""

import argparse
import json
import math
import os
import shlex
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from components.validation import report as metrics_report  # pylint: disable=g-import-not-at-top,wrong-import-position
from components.validation import scorers  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.ablation import defaults  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.ablation import suite  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.ablation import summary  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.cli import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import worlds  # pylint: disable=g-import-not-at-top,wrong-import-position

_METRICS = ("global@5%", "global@10%")


def run_changes(out: str, world_names, num_requests: int, changes,
                base: config_lib.PipelineConfig, beam_args) -> dict:
  """{setting: {world: {metric: value}}} of the model, and the best
  yardstick's per world under "best_yardstick"."""
  runs = {}
  for world in world_names:
    logs = suite._logs(out, world, num_requests)  # pylint: disable=protected-access
    for name, overrides in ((defaults.DEFAULTS, {}), *changes):
      config = base.replace(
          stop_after=config_lib.VALIDATE,
          validation__compare_to_last_blessed=False, **overrides)
      result = local_runner.run(config, logs,
                                os.path.join(out, world, "run"), beam_args)
      metrics = metrics_report.load(result.metrics)
      model = summary.flatten(metrics, scorers.MODEL)
      runs.setdefault(name, {})[world] = {m: model[m] for m in _METRICS}
      if name == defaults.DEFAULTS:
        runs.setdefault(suite.BEST_YARDSTICK, {})[world] = {
            m: max(summary.flatten(metrics, y)[m]
                   for y in scorers.YARDSTICKS) for m in _METRICS}
      print(f"{world} {name}: " + ", ".join(
          f"{m} {runs[name][world][m]:.3f}" for m in _METRICS), flush=True)
  return runs


def _cell(value: float) -> str:
  return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _ordered(runs: dict) -> dict:
  """`runs` with the defaults first, the best yardstick, then the changes
  in CHANGES' order (then any other): the same report from a fresh run and
  from results.json, whose keys are sorted."""
  known = [defaults.DEFAULTS, suite.BEST_YARDSTICK] + [
      name for name, _ in defaults.CHANGES]
  order = [k for k in known if k in runs] + sorted(set(runs) - set(known))
  return {k: runs[k] for k in order}


def markdown(runs: dict, command: str, world_names, num_requests: int,
             seed: int) -> str:
  runs = _ordered(runs)
  effects = defaults.effects(
      {k: v for k, v in runs.items() if k != suite.BEST_YARDSTICK},
      defaults.DEFAULTS)
  verdicts = defaults.verdicts(effects)
  lines = [
      "# Choosing the defaults, leave one world out",
      "",
      "Reproduce with:",
      "",
      "```sh",
      command,
      "```",
      "",
      f"Development worlds only ({', '.join(world_names)}; the held-out "
      f"{', '.join(worlds.HELD_OUT_WORLDS)} is never run here), "
      f"{num_requests:,} requests each (the suite runs other logs of the "
      f"same worlds), training seed {seed}. " + defaults.__doc__.split(
          "\n\n")[1].replace("\n", " "),
      "",
      "## Verdicts",
      "",
  ]
  lines += defaults.markdown_table(verdicts, list(world_names))
  lines += ["", "## Every run: global hitrate at 5% / 10% of each candidate "
            "set", ""]
  header = ["setting"] + list(world_names)
  lines += ["| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|"]
  for name, by_world in runs.items():
    cells = [name] + [
        " / ".join(_cell(by_world.get(w, {}).get(m)) for m in _METRICS)
        for w in world_names]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--worlds", nargs="+",
                      default=list(worlds.DEVELOPMENT_WORLDS),
                      choices=list(worlds.DEVELOPMENT_WORLDS))
  parser.add_argument("--requests", type=flags.positive_int, default=10_000,
                      help="requests per world (default: %(default)s)")
  parser.add_argument("--changes", nargs="+",
                      default=[name for name, _ in defaults.CHANGES],
                      choices=[name for name, _ in defaults.CHANGES])
  parser.add_argument("--out", default="defaults_run",
                      help="work directory: logs and runs per world")
  parser.add_argument("--report", default=os.path.join("docs", "quality",
                                                       "defaults.md"))
  parser.add_argument("--from-results", action="store_true",
                      help="rewrite the report from <out>/defaults.json of "
                           "an earlier run, running nothing")
  flags.add_beam_flags(parser)
  flags.add_config_flags(parser)
  args = parser.parse_args()
  results_file = os.path.join(args.out, "defaults.json")
  if args.from_results:
    if not os.path.isfile(results_file):
      parser.error(f"{results_file} does not exist: run into --out "
                   f"{args.out} first")
    with open(results_file) as f:
      saved = json.load(f)
  else:
    changes = [c for c in defaults.CHANGES if c[0] in args.changes]
    base = flags.config_from_args(args)
    saved = {"runs": run_changes(args.out, args.worlds, args.requests,
                                 changes, base, flags.beam_args_from(args)),
             "command": shlex.join(["python", "bench/choose_defaults.py"]
                                   + sys.argv[1:]),
             "worlds": args.worlds, "requests": args.requests,
             "seed": base.hparams.seed}
    os.makedirs(args.out, exist_ok=True)
    with open(results_file, "w") as f:
      json.dump(saved, f, indent=2, sort_keys=True)
  text = markdown(saved["runs"], saved["command"], saved["worlds"],
                  saved["requests"], saved["seed"])
  os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
  with open(args.report, "w") as f:
    f.write(text)
  print(text)
  print(f"written to {args.report}")


if __name__ == "__main__":
  main()
