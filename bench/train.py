"""Benchmark: coarse-ranker training throughput against a TFRS retrieval baseline; scoring latency.

Generates synthetic logs, runs the pipeline up to Transform once
(local_runner.run), and caches a fixed number of full
transformed batches in memory, so input I/O and parsing are not measured:
each timed step is one compiled `train_step` on a cached batch.

Then, in the same process, trains the coarse ranker as the Trainer builds
it (training.build_model, with the match head's count tables when
`--match-head` is on, as by default) and the baseline (models/baseline.py:
the same towers, tfrs.tasks.Retrieval over (query, clicked item) pairs)
for the same number of steps at the same
batch size, after a warm-up that includes tf.function tracing. The two are
timed in alternating order for several rounds; lists per second are the
medians over rounds, the ratio model / baseline the median of the per-round
ratios (target >= 1.0, issue #28).

Finally exports the trained coarse ranker (models/serving.py), loads it and
times its serving_default signature in process for 1 request x N candidates
(known item ids from the Transform vocabulary plus some unknown ids).

    python bench/train.py [--requests 5000] [--steps 300] [--rounds 3]
"""

import argparse
import os
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top

from models import baseline  # pylint: disable=g-import-not-at-top
from models import features as f  # pylint: disable=g-import-not-at-top
from models import hparams as hparams_lib  # pylint: disable=g-import-not-at-top
from models import serving  # pylint: disable=g-import-not-at-top
from models import training  # pylint: disable=g-import-not-at-top
from tfx_pipeline import config as config_lib  # pylint: disable=g-import-not-at-top
from tfx_pipeline import local_runner  # pylint: disable=g-import-not-at-top
from tfx_pipeline import run_result  # pylint: disable=g-import-not-at-top
from tfx_pipeline.cli import flags  # pylint: disable=g-import-not-at-top
from tfx_pipeline.synthetic import config as world_config  # pylint: disable=g-import-not-at-top
from tfx_pipeline.synthetic import write  # pylint: disable=g-import-not-at-top

Batch = Dict[str, tf.Tensor]

# Share of the scored candidates that are ids unknown to the vocabulary.
_UNKNOWN_SHARE = 0.05
_SERVING_WARMUP_CALLS = 20


def _transform(requests: int, seed: int, logs: Optional[str], root: str,
               beam_args: List[str]) -> Tuple[str, str]:
  """Logs -> examples -> Transform; (train file pattern, transform graph).

  Generates `requests` requests unless `logs` names existing logs; logs and
  a run of the same settings already under `root` are reused (TFX's cache).
  """
  if logs is None:
    logs = os.path.join(root, f"logs-{requests}-seed{seed}")
    if not os.path.isdir(logs):
      # Renamed once complete: a folder of that name holds whole logs.
      partial = logs + ".partial"
      write.write_logs(partial, world_config.WorldConfig(
          num_requests=requests, seed=seed), overwrite=True)
      os.rename(partial, logs)
  result = local_runner.run(
      config_lib.PipelineConfig(stop_after=config_lib.TRANSFORM).replace(
          listwise__seed=seed), logs, root, beam_args)
  train = result.split(run_result.TRANSFORM, "transformed_examples",
                       "train")
  return os.path.join(train, "*"), result.transform_graph


def _dataset(pattern: str, tf_transform_output: tft.TFTransformOutput,
             batch_size: int) -> tf.data.Dataset:
  """One unshuffled pass over the transformed examples."""
  return training.input_fn([pattern], training.local_data_accessor(),
                           tf_transform_output, batch_size, shuffle=False,
                           num_epochs=1)


def _cached_batches(dataset: tf.data.Dataset, batch_size: int,
                    limit: int) -> List[Batch]:
  """Up to `limit` full batches, held in memory as eager tensors."""
  mask = f.transformed_name(f.MASK)
  batches = [b for b in dataset.take(limit + 1)
             if b[mask].shape[0] == batch_size][:limit]
  if not batches:
    raise ValueError(f"fewer than {batch_size} training lists; "
                     "raise --requests or lower --batch-size")
  return batches


def _warm_up(model: tf.keras.Model, batches: List[Batch],
             steps: int) -> Callable[[Batch], Dict[str, tf.Tensor]]:
  """The compiled train step of `model`, traced and run `steps` times."""
  step = tf.function(model.train_step)
  _time_steps(step, batches, steps)
  return step


def _time_steps(step: Callable[[Batch], Dict[str, tf.Tensor]],
                batches: List[Batch], steps: int) -> float:
  """Seconds for `steps` train steps over the cycled cached batches."""
  start = time.perf_counter()
  for k in range(steps):
    logs = step(batches[k % len(batches)])
  float(logs["loss"])  # The last step has finished.
  return time.perf_counter() - start


def _throughput(steps: Dict[str, Callable[[Batch], Dict[str, tf.Tensor]]],
                batches: List[Batch], num_steps: int, rounds: int,
                batch_size: int) -> Dict[str, List[float]]:
  """Lists per second of each model per round, alternating the order."""
  names = list(steps)
  out = {name: [] for name in names}
  for r in range(rounds):
    for name in (names if r % 2 == 0 else names[::-1]):
      seconds = _time_steps(steps[name], batches, num_steps)
      out[name].append(num_steps * batch_size / seconds)
  return out


def _request(tf_transform_output: tft.TFTransformOutput,
             num_candidates: int, seed: int) -> Dict[str, tf.Tensor]:
  """1 request x `num_candidates` candidate ids for serving_default."""
  rng = np.random.default_rng(seed)
  vocab = lambda name: tf_transform_output.vocabulary_by_name(name)
  items = vocab(f.ITEM_VOCAB)
  num_unknown = int(round(num_candidates * _UNKNOWN_SHARE))
  known = rng.choice(items, size=num_candidates - num_unknown,
                     replace=len(items) < num_candidates - num_unknown)
  unknown = [f"unknown-item-{k}".encode() for k in range(num_unknown)]
  candidates = rng.permutation(np.concatenate([known, unknown]).astype(object))
  tokens = vocab(f.QUERY_TOKEN_VOCAB)
  return dict(
      user_id=tf.constant([vocab(f.USER_VOCAB)[0]]),
      query=tf.constant([b" ".join(tokens[:2])]),
      user_history=tf.constant([list(rng.choice(items, size=5))]),
      age_bucket=tf.constant([3], tf.int64),
      purchase_power=tf.constant([2], tf.int64),
      gender=tf.constant([vocab(f.GENDER_VOCAB)[0]]),
      candidate_item_ids=tf.constant([list(candidates)]))


def _latencies_ms(serve, request: Dict[str, tf.Tensor],
                  calls: int) -> np.ndarray:
  """Milliseconds of each of `calls` calls, after a warm-up."""
  for _ in range(_SERVING_WARMUP_CALLS):
    serve(**request)[serving.SCORES].numpy()
  out = []
  for _ in range(calls):
    start = time.perf_counter()
    serve(**request)[serving.SCORES].numpy()
    out.append((time.perf_counter() - start) * 1e3)
  return np.array(out)


# Positive-integer flags: name, default, meaning.
_COUNTS = (
    ("steps", 300, "timed train steps per model per round"),
    ("rounds", 3, "timing rounds, model order alternating"),
    ("warmup-steps", 20, "untimed steps per model, tracing included"),
    ("batch-size", hparams_lib.HParams().batch_size,
     "lists per batch, both models"),
    ("cached-batches", 32, "transformed batches held in memory and cycled"),
    ("candidates", 1_000, "candidates of the timed serving request"),
    ("calls", 200, "timed serving_default calls"),
)


def main() -> None:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n", maxsplit=1)[0])
  parser.add_argument("--requests", type=flags.positive_int, default=5_000,
                      help="synthetic search requests to generate")
  parser.add_argument("--logs", default=None,
                      help="existing logs to use instead (default: generate)")
  parser.add_argument("--output", default=None,
                      help="pipeline output directory, reused if it holds a "
                           "run of the same logs (default: a temporary one)")
  for name, default, meaning in _COUNTS:
    parser.add_argument(f"--{name}", type=flags.positive_int, default=default,
                        help=f"{meaning} (default: %(default)s)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--w-in-batch", type=float,
                      default=hparams_lib.HParams().w_in_batch,
                      help="the coarse ranker's in-batch softmax weight (0 "
                           "leaves it out; default: %(default)s)")
  parser.add_argument("--match-head", action=argparse.BooleanOptionalAction,
                      default=hparams_lib.HParams().match_head,
                      help="train the coarse ranker with its match head "
                           "(default: %(default)s, as the Trainer)")
  flags.add_beam_flags(parser)
  args = parser.parse_args()
  hparams = hparams_lib.HParams(batch_size=args.batch_size, seed=args.seed,
                                w_in_batch=args.w_in_batch,
                                match_head=args.match_head)

  with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    pattern, graph = _transform(args.requests, args.seed, args.logs,
                                args.output or tmp,
                                flags.beam_args_from(args))
    pipeline_s = time.perf_counter() - start
    tf_transform_output = tft.TFTransformOutput(graph)
    batches = _cached_batches(
        _dataset(pattern, tf_transform_output, args.batch_size),
        args.batch_size, args.cached_batches)
    pairs = [int(tf.shape(baseline.click_pairs(b)[1][
        f.transformed_name(f.ITEM_ID)])[0]) for b in batches]

    items = training.read_catalog([pattern], training.local_data_accessor(),
                                  tf_transform_output)
    tables = training.head_tables([pattern], training.local_data_accessor(),
                                  tf_transform_output, hparams, items)
    tf.keras.utils.set_random_seed(args.seed)
    models = {"coarse ranker": training.build_model(tf_transform_output,
                                                    hparams, tables),
              "tfrs retrieval baseline": baseline.build_baseline(
                  tf_transform_output, hparams)}
    steps = {name: _warm_up(model, batches, args.warmup_steps)
             for name, model in models.items()}
    rates = _throughput(steps, batches, args.steps, args.rounds,
                        args.batch_size)
    names = list(models)
    ratios = [m / b for m, b in zip(rates[names[0]], rates[names[1]])]

    export_dir = os.path.join(tmp, "serving")
    serving.export(models[names[0]], tf_transform_output, hparams, items,
                   export_dir)
    serve = tf.saved_model.load(export_dir).signatures[
        serving.SERVING_DEFAULT]
    latencies = _latencies_ms(
        serve, _request(tf_transform_output, args.candidates, args.seed),
        args.calls)

  print()
  print(f"logs: {args.logs or f'{args.requests:,} generated requests'}; "
        "logs -> Transform took "
        f"{pipeline_s:.0f} s (not timed below)")
  print(f"{len(batches)} cached batches x {args.batch_size} lists "
        f"(list size {batches[0][f.transformed_name(f.MASK)].shape[1]}); "
        f"baseline click pairs per batch: mean {np.mean(pairs):.1f}")
  print(f"training: {args.warmup_steps} warm-up steps, then {args.rounds} "
        f"rounds x {args.steps} steps per model, order alternating; coarse "
        f"ranker {'with' if hparams.match_head else 'without'} its match "
        f"head, in-batch weight {hparams.w_in_batch:g}")
  print()
  print(f"{'training throughput':<34}{'lists/s (median)':>18}"
        f"{'per round':>30}")
  for name in names:
    per_round = " ".join(f"{r:,.0f}" for r in rates[name])
    print(f"  {name:<32}{statistics.median(rates[name]):>18,.0f}"
          f"{per_round:>30}")
  per_round = " ".join(f"{r:.2f}" for r in ratios)
  print(f"  {'ratio model / baseline':<32}{statistics.median(ratios):>18.2f}"
        f"{per_round:>30}   (target >= 1.0)")
  print()
  print(f"serving_default, in process, 1 request x {args.candidates:,} "
        f"candidates ({_UNKNOWN_SHARE:.0%} unknown ids), {args.calls} calls")
  for label, value in (("p50", np.percentile(latencies, 50)),
                       ("p99", np.percentile(latencies, 99)),
                       ("mean", latencies.mean())):
    print(f"  {label:<32}{value:>15.2f} ms")


if __name__ == "__main__":
  main()
