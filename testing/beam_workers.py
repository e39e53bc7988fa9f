"""A Beam worker pool in a process of its own, for portable runs with an EXTERNAL environment.

`worker_pool` starts `apache_beam.runners.worker.worker_pool_main` in a new
session (so that it and every worker it starts form one process group), waits
until it listens, and on exit stops the whole group. Its workers boot through
`testing/beam_boot.py`, which gives them the job's pipeline options and
records each worker's pid. `beam_args` names the pool as the environment of
a PortableRunner run whose job server is embedded in the driver.
"""

import contextlib
import dataclasses
import glob
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator, List, Sequence

from components import local_job_service
import testing
from testing import beam_boot

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
# Longer than any Beam job of a run (see WorkerPool.beam_args).
JOB_SERVER_TIMEOUT_S = 24 * 3600
_LOG_TAIL_CHARS = 3000


class WorkerPoolError(RuntimeError):
  """The worker pool did not come up."""


@dataclasses.dataclass(frozen=True)
class WorkerPool:
  """A running worker pool.

  Attributes:
    pid: the pool process's id (also its process group's).
    port: the port it listens on (localhost).
    log_path: the pool's stderr (its workers' too).
    record_dir: where each worker records its pid (see beam_boot).
  """
  pid: int
  port: int
  log_path: str
  record_dir: str

  @property
  def address(self) -> str:
    return f"localhost:{self.port}"

  def beam_args(self, job_endpoint: str = "embed") -> List[str]:
    """PortableRunner options: this pool's workers, the job server's endpoint (default: embedded in the driver).

    Beam's PortableRunner watches a job's state through a stream that ends
    after --job_server_timeout (default 60 s), failing any longer job with
    DEADLINE_EXCEEDED (apache/beam issue 35867): the timeout is raised.
    """
    return ["--runner=PortableRunner", f"--job_endpoint={job_endpoint}",
            f"--job_server_timeout={JOB_SERVER_TIMEOUT_S}",
            "--environment_type=EXTERNAL",
            f"--environment_config={self.address}"]

  def workers(self) -> List[dict]:
    """Every worker started so far: pid, ppid and worker_id, by pid."""
    records = []
    for path in glob.glob(os.path.join(self.record_dir, "worker-*.json")):
      with open(path) as f:
        records.append(json.load(f))
    return sorted(records, key=lambda r: r["pid"])


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _listening(port: int) -> bool:
  with socket.socket() as s:
    return s.connect_ex(("localhost", port)) == 0


def _tail(path: str) -> str:
  with open(path, errors="replace") as f:
    return f.read()[-_LOG_TAIL_CHARS:]


def _write_boot_script(path: str, python: str) -> None:
  """An executable that runs beam_boot with `python` (the pool execs it)."""
  with open(path, "w") as f:
    f.write("#!/bin/sh\nexec " + shlex.join([python, "-m", beam_boot.__name__])
            + ' "$@"\n')
  os.chmod(path, 0o755)


def _signal_group(pgid: int, sig: int) -> None:
  try:
    os.killpg(pgid, sig)
  except ProcessLookupError:
    pass  # No process of the group is left.


def _stop(process: subprocess.Popen) -> None:
  """Stops the pool and every worker it started (its process group).

  SIGTERM first; after the pool exits (or STOP_TIMEOUT_S), SIGKILL to
  whatever of the group is left.
  """
  _signal_group(process.pid, signal.SIGTERM)
  try:
    process.wait(timeout=STOP_TIMEOUT_S)
  except subprocess.TimeoutExpired:
    pass  # Killed below.
  _signal_group(process.pid, signal.SIGKILL)
  process.wait()


def _environment(record_dir: str) -> dict:
  """This environment, the project importable, and workers' records on."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(testing.__file__)))
  path = os.environ.get("PYTHONPATH")
  return dict(os.environ,
              PYTHONPATH=root if not path else os.pathsep.join([root, path]),
              TF_USE_LEGACY_KERAS="1",
              **{beam_boot.RECORD_DIR_ENV: record_dir})


@contextlib.contextmanager
def _service(command: List[str], port: int, log_path: str, env: dict,
             startup_timeout: float) -> Iterator[subprocess.Popen]:
  """Runs `command` in a new session until the block ends; waits until it listens.

  Raises:
    WorkerPoolError: it exited or did not listen on `port` within
      `startup_timeout` (its log is in the message); it is stopped.
  """
  with open(log_path, "w") as log:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               env=env, start_new_session=True)
  try:
    deadline = time.monotonic() + startup_timeout
    while not _listening(port):
      if process.poll() is not None:
        raise WorkerPoolError(
            f"{shlex.join(command)} exited with status {process.returncode} "
            f"before it listened on port {port}; its log ({log_path}):\n"
            f"{_tail(log_path)}")
      if time.monotonic() > deadline:
        raise WorkerPoolError(
            f"{shlex.join(command)} did not listen on port {port} within "
            f"{startup_timeout} s; its log ({log_path}):\n{_tail(log_path)}")
      time.sleep(0.1)
    yield process
  finally:
    _stop(process)


@contextlib.contextmanager
def worker_pool(work_dir: str, python: str = sys.executable,
                startup_timeout: float = STARTUP_TIMEOUT_S
                ) -> Iterator[WorkerPool]:
  """Runs a worker pool for the duration of the block.

  Args:
    work_dir: an existing directory for the pool's log, boot script and the
      workers' records.
    python: the interpreter of the pool and its workers.
    startup_timeout: seconds to wait until the pool listens.

  Yields:
    The running pool.

  Raises:
    WorkerPoolError: the pool exited or did not listen within
      `startup_timeout` (its log is in the message); it is stopped.
  """
  record_dir = os.path.join(work_dir, "workers")
  os.makedirs(record_dir, exist_ok=True)
  boot = os.path.join(work_dir, "beam_boot.sh")
  _write_boot_script(boot, python)
  log_path = os.path.join(work_dir, "worker_pool.log")
  port = _free_port()
  command = [python, "-m", "apache_beam.runners.worker.worker_pool_main",
             f"--service_port={port}", f"--container_executable={boot}"]
  with _service(command, port, log_path, _environment(record_dir),
                startup_timeout) as process:
    yield WorkerPool(pid=process.pid, port=port, log_path=log_path,
                     record_dir=record_dir)


@dataclasses.dataclass(frozen=True)
class JobServer:
  """A running Beam job server (the portable runner's, out of the driver).

  Attributes:
    pid: its process id.
    port: the job API's port (localhost).
    log_path: its stderr.
  """
  pid: int
  port: int
  log_path: str

  @property
  def endpoint(self) -> str:
    return f"localhost:{self.port}"


@contextlib.contextmanager
def job_server(work_dir: str, python: str = sys.executable,
               startup_timeout: float = STARTUP_TIMEOUT_S,
               program: Sequence[str] = ("-m", local_job_service.__name__)
               ) -> Iterator[JobServer]:
  """Runs Beam's local job server in a process of its own during the block.

  The job server runs each submitted pipeline (Beam's FnApiRunner, which
  holds the data passed between fused stages) outside the process that
  submitted it, as a cluster's job server does; its workers are the
  environment's (e.g. a worker_pool, `--environment_type=EXTERNAL`). It is
  started through components.local_job_service, which keeps its runner from
  dropping bundle input.

  Args:
    work_dir: an existing directory for its log and staging files.
    python: its interpreter.
    startup_timeout: seconds to wait until it listens.
    program: the interpreter's arguments that start a job service taking
      local_job_service_main's flags.

  Raises:
    WorkerPoolError: it exited or did not listen within `startup_timeout`.
  """
  log_path = os.path.join(work_dir, "job_server.log")
  port = _free_port()
  command = [python, *program, f"--port={port}",
             f"--staging_dir={os.path.join(work_dir, 'job_staging')}"]
  with _service(command, port, log_path, _environment(work_dir),
                startup_timeout) as process:
    yield JobServer(pid=process.pid, port=port, log_path=log_path)
