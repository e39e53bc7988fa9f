"""Tests that the job service run out of the driver hands every element of a stage's input to its workers."""

import operator

import apache_beam as beam
from apache_beam.options import pipeline_options
from apache_beam.runners.portability import local_job_service_main
from apache_beam.runners.portability.fn_api_runner import worker_handlers
import pytest

from components import local_job_service
from testing import beam_workers

KEYS = 1_000
PER_KEY = 500

# The job service with Beam's time-based flush of bundle input set to every
# millisecond before main() runs: Beam's race, which needs over a second of
# writing one bundle's input at its default period, can then happen in any
# bundle. Beam's own job service, so set, lost 29% of this test's 500,000
# rows (and 34% and 47% of 1M rows in two runs); main() must mend it.
_FAST_FLUSH_PROGRAM = (
    "-c",
    "import sys\n"
    "from apache_beam.runners.portability.fn_api_runner import "
    "worker_handlers\n"
    "from components import local_job_service\n"
    "worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 1\n"
    "local_job_service.main(sys.argv[1:])\n")


def test_main_mends_the_data_plane_before_the_service_starts(monkeypatch):
  monkeypatch.setattr(worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS", 1000)
  started = []
  monkeypatch.setattr(
      local_job_service_main, "run", lambda argv: started.append(
          (worker_handlers.DATA_BUFFER_TIME_LIMIT_MS, argv)))
  local_job_service.main(["--port=8099", "--staging_dir=/tmp/s"])
  assert started == [(0, [local_job_service_main.__file__, "--port=8099",
                          "--staging_dir=/tmp/s"])]


@pytest.mark.parametrize("flag", ["--background", "--backg"])
def test_background_is_refused(monkeypatch, flag):
  monkeypatch.setattr(local_job_service_main, "run",
                      lambda argv: pytest.fail("the service started"))
  with pytest.raises(local_job_service.UsageError, match="--background"):
    local_job_service.main([flag, "--pid_file=/tmp/p"])


@pytest.mark.slow
def test_a_stage_behind_a_side_input_gets_all_its_input(tmp_path):
  out = str(tmp_path / "counts")
  with beam_workers.job_server(str(tmp_path), program=_FAST_FLUSH_PROGRAM
                               ) as jobs, \
      beam_workers.worker_pool(str(tmp_path)) as pool:
    options = pipeline_options.PipelineOptions(
        pool.beam_args(job_endpoint=jobs.endpoint))
    with beam.Pipeline(options=options) as p:
      rows = (p
              | beam.Create([[f"{k:04d}" + "x" * 200] for k in range(KEYS)])
              | beam.Reshuffle()
              | beam.FlatMap(operator.mul, PER_KEY))  # [row] * PER_KEY
      total = rows | "Total" >> beam.combiners.Count.Globally()
      # The side input breaks fusion: the runner buffers `rows` and sends
      # them to a worker as this stage's input. (The workers cannot import
      # this module: its steps are Beam's and the standard library's.)
      seen = (rows
              | "KeepAll" >> beam.Filter(operator.is_not,
                                         beam.pvalue.AsSingleton(total))
              | "Seen" >> beam.combiners.Count.Globally())
      _ = ((total, seen)
           | beam.Flatten()
           | beam.Map(str)
           | beam.io.WriteToText(out, shard_name_template=""))
    with open(out) as f:
      lines = f.read().split()
  assert lines == [str(KEYS * PER_KEY)] * 2
