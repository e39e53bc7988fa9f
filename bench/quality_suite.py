"""Benchmark of model quality: the default pipeline on every world of the suite, over seeds, into docs/quality/suite.md.

For each world (tfx_pipeline/synthetic/worlds.py), generates its logs once,
then for each seed runs the pipeline up to the hitrate validation for the
coarse ranker and for the TFRS retrieval baseline (local_runner.run, cached:
a rerun of the same settings trains nothing). The validator evaluates the
model, the fine ranker's logged scores and popularity on the same eval
candidate sets. Writes the suite table (hitrate at 1%, 5%, 10% and 25% of
each candidate set: global, in-scene, out-of-scene and tail; NDCG@10 on
exposed lists; the chosen checkpoint, its train and validation losses and
the validation loss at the end of training), prints it, and keeps the
numbers in <out>/suite.json (`--from-results` rewrites the report from
them). Every pipeline flag of `coarse-rank run` sets
the settings under test.

    python bench/quality_suite.py [--worlds default sparse] [--seeds 0 1 2]
        [--requests 20000] [--out quality_suite_run]
        [--report docs/quality/suite.md] [--from-results]
        [--train-steps N ...]
"""

import argparse
import json
import os
import shlex
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tfx_pipeline.ablation import suite  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.cli import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
from tfx_pipeline.synthetic import worlds  # pylint: disable=g-import-not-at-top,wrong-import-position


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  default = suite.SuiteConfig()
  parser.add_argument("--worlds", nargs="+", default=list(default.worlds),
                      choices=list(worlds.WORLDS))
  parser.add_argument("--seeds", type=int, nargs="+",
                      default=list(default.seeds))
  parser.add_argument("--requests", type=flags.positive_int,
                      default=default.num_requests,
                      help="requests per world (default: %(default)s)")
  parser.add_argument("--out", default="quality_suite_run",
                      help="work directory: logs and runs per world")
  parser.add_argument("--report", default=os.path.join("docs", "quality",
                                                       "suite.md"))
  parser.add_argument("--from-results", action="store_true",
                      help="rewrite the report from <out>/suite.json of an "
                      "earlier run, running nothing")
  flags.add_beam_flags(parser)
  flags.add_config_flags(parser)
  args = parser.parse_args()
  config = suite.SuiteConfig(worlds=tuple(args.worlds),
                             seeds=tuple(args.seeds),
                             num_requests=args.requests,
                             pipeline=flags.config_from_args(args))
  results_file = os.path.join(args.out, "suite.json")
  if args.from_results:
    if not os.path.isfile(results_file):
      parser.error(f"{results_file} does not exist: run the suite into "
                   f"--out {args.out} first")
    with open(results_file) as f:
      saved = json.load(f)
  else:
    saved = {"outcome": suite.run_suite(args.out, config,
                                        flags.beam_args_from(args)),
             "command": shlex.join(["python", "bench/quality_suite.py"]
                                   + sys.argv[1:]),
             "seeds": list(config.seeds)}
    with open(results_file, "w") as f:
      json.dump(saved, f, indent=2, sort_keys=True)
  text = suite.markdown(saved["outcome"], saved["command"], saved["seeds"])
  os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
  with open(args.report, "w") as f:
    f.write(text)
  print(text)
  print(f"written to {args.report}")


if __name__ == "__main__":
  main()
