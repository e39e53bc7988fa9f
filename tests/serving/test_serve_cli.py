"""`coarse-rank serve` in its own process on the pushed layout and `coarse-rank query` against it: a round trip, the health check, SIGTERM."""

import http.client
import json
import os
import signal
import subprocess
import sys

import pytest

from testing import serving as serving_testing
from tfx_pipeline import cli

pytestmark = pytest.mark.slow

# The installed console script, beside this Python.
_COARSE_RANK = os.path.join(os.path.dirname(sys.executable), "coarse-rank")
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.fixture
def serve_process(exported, tmp_path):
  """`coarse-rank serve` on the Pusher's models.config."""
  log = tmp_path / "serve.log"
  with open(log, "w") as stderr:
    process = subprocess.Popen(
        [_COARSE_RANK, "serve", "--host", "127.0.0.1", "--port", "0",
         "--model_config_file",
         os.path.join(exported.serving_dir, "models.config"),
         "--max-candidates", "500", "--rest_api_port", "0",
         "--enable_batching", "--batching_parameters_file",
         os.path.join(_REPO, "serving", "batching_parameters.txt")],
        stdout=subprocess.PIPE, stderr=stderr, text=True,
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
  try:
    first_line = process.stdout.readline()
    assert first_line.startswith("serving coarse_ranker on 127.0.0.1:"), (
        first_line, log.read_text()[-3000:])
    second_line = process.stdout.readline()
    assert second_line.startswith("REST API on 127.0.0.1:"), second_line
    process.rest_target = second_line.strip().rsplit(" ", 1)[1]
    yield process, first_line.strip().rsplit(" ", 1)[1]
  finally:
    if process.poll() is None:
      process.kill()
      process.wait()


def test_query_round_trip_then_sigterm_stops_cleanly(serve_process, exported,
                                                     capsys):
  process, target = serve_process
  version = int(os.path.basename(exported.export_dir))  # The Pusher's.
  (request,) = serving_testing.sample_requests(exported.logs_dir, 1, 50)
  argv = ["query", "--server", target, "--user-id", request.user_id,
          "--query", request.query, "--candidates",
          ",".join(request.candidate_item_ids), "--history",
          *request.user_history]
  assert cli.main(argv + ["--json"]) == 0
  answer = json.loads(capsys.readouterr().out)
  assert answer["model_version"] == version
  assert len(answer["scores"]) == 50 and len(answer["top_k"]) == 50
  best = max(range(50), key=lambda i: answer["scores"][i])
  assert answer["top_k"][0]["item_id"] == request.candidate_item_ids[best]

  assert cli.main(argv + ["--top", "3"]) == 0
  printed = capsys.readouterr().out.splitlines()
  assert printed[0] == (f"model coarse_ranker version {version}: top 3 of 50 "
                        "candidates")
  assert len(printed) == 4

  assert cli.main(["query", "--server", target, "--status"]) == 0
  assert capsys.readouterr().out.strip() == f"version {version}: AVAILABLE"
  host, port = process.rest_target.rsplit(":", 1)
  rest = http.client.HTTPConnection(host, int(port), timeout=30)
  rest.request("GET", "/v1/models/coarse_ranker")
  answer = rest.getresponse()
  assert answer.status == 200
  assert json.loads(answer.read())["model_version_status"][0][
      "state"] == "AVAILABLE"
  rest.close()

  too_many = ["--candidates"] + [f"i{k}" for k in range(501)]
  assert cli.main(["query", "--server", target, "--user-id", "u", "--query",
                   "q"] + too_many) == 1
  assert "INVALID_ARGUMENT" in capsys.readouterr().err

  process.send_signal(signal.SIGTERM)
  assert process.wait(timeout=60) == 0
  assert process.stdout.read().strip() == "stopped"
  assert cli.main(["query", "--server", target, "--status",
                   "--timeout", "2"]) == 1
  assert "UNAVAILABLE" in capsys.readouterr().err


def test_a_second_server_on_the_same_port_is_refused(serve_process,
                                                    exported):
  process, target = serve_process
  second = subprocess.run(
      [_COARSE_RANK, "serve", "--host", "127.0.0.1", "--port",
       target.rsplit(":", 1)[1], "--model_base_path",
       os.path.dirname(exported.export_dir)],
      capture_output=True, text=True, timeout=120,
      env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
  assert second.returncode == 2, second.stderr[-3000:]
  assert f"error: cannot listen on {target}: the port is in use" in (
      second.stderr)
  assert process.poll() is None
  assert cli.main(["query", "--server", target, "--status"]) == 0


def test_serve_help_shows_the_rest_and_batching_flags(capsys):
  with pytest.raises(SystemExit) as exit_:
    cli.main(["serve", "--help"])
  assert exit_.value.code == 0
  text = capsys.readouterr().out
  for flag in ("--rest_api_port", "--rest-api-port", "--enable_batching",
               "--batching_parameters_file"):
    assert flag in text


@pytest.mark.parametrize("content, argv, message", [
    ("max_batch_size: 16", ["--enable_batching"],
     "not a BatchingParameters text proto"),
    ("max_batch_size { value: 0 }", ["--enable-batching"],
     "max_batch_size must be at least 1"),
    ("max_batch_size { value: 16 }", [],
     "--batching_parameters_file needs --enable_batching"),
])
def test_serve_refuses_bad_batching_parameters(tmp_path, capsys, content,
                                               argv, message):
  path = tmp_path / "batching.txt"
  path.write_text(content)
  assert cli.main(["serve", "--port", "0", "--model-base-path",
                   str(tmp_path), "--batching_parameters_file", str(path),
                   *argv]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and message in err
  assert "Traceback" not in err


def test_serve_refuses_an_unreadable_batching_parameters_file(tmp_path,
                                                              capsys):
  assert cli.main(["serve", "--port", "0", "--model-base-path",
                   str(tmp_path), "--enable_batching",
                   "--batching_parameters_file",
                   str(tmp_path / "missing.txt")]) == 2
  assert "error: cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value", [
    ("--port", "99999"), ("--port", "-5"), ("--rest_api_port", "70000"),
    ("--rest-api-port", "-1"), ("--port", "http")])
def test_serve_refuses_a_port_outside_the_range(tmp_path, capsys, flag,
                                                value):
  with pytest.raises(SystemExit) as exit_:
    cli.main(["serve", flag, value, "--model-base-path", str(tmp_path)])
  assert exit_.value.code == 2
  err = capsys.readouterr().err
  assert "argument --" in err and "Traceback" not in err
  if value != "http":
    assert f"a port is 1..65535 (0: any free one), got {value}" in err


def test_serve_refuses_a_missing_base_path(tmp_path, capsys):
  assert cli.main(["serve", "--port", "0", "--host", "127.0.0.1",
                   "--model-base-path", str(tmp_path / "missing")]) == 2
  assert "is not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("name, content, reason", [
    ("missing", None, "No such file or directory"),
    ("folder", "", "Is a directory"),
    ("binary", b"\xff\xfe\x00", "can't decode byte 0xff"),
])
def test_query_refuses_a_candidates_file_it_cannot_read(tmp_path, capsys,
                                                        name, content,
                                                        reason):
  path = tmp_path / name
  if isinstance(content, bytes):
    path.write_bytes(content)
  elif content is not None:
    path.mkdir()
  assert cli.main(["query", "--user-id", "u", "--query", "q",
                   "--candidates-file", str(path)]) == 2
  err = capsys.readouterr().err
  assert err.startswith(f"error: cannot read --candidates-file {path}: ")
  assert reason in err


def test_query_needs_a_request_or_a_mode(capsys):
  assert cli.main(["query", "--user-id", "u"]) == 2
  assert "--candidates" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--candidates", "i1,,i2"], "--candidates holds an empty candidate id"),
    (["--candidates", "i1", ""], "--candidates holds an empty candidate id"),
    (["--candidates", "i1, "], "--candidates holds an empty candidate id"),
])
def test_query_refuses_an_empty_candidate_id(capsys, argv, message):
  # Refused before any call: no server listens here.
  assert cli.main(["query", "--server", "127.0.0.1:1", "--user-id", "u",
                   "--query", "q", *argv]) == 2
  assert message in capsys.readouterr().err


def test_a_candidates_file_with_an_empty_line_is_refused(tmp_path, capsys):
  path = tmp_path / "candidates.txt"
  path.write_text("i1\n\ni2\n")
  assert cli.main(["query", "--server", "127.0.0.1:1", "--user-id", "u",
                   "--query", "q", "--candidates-file", str(path)]) == 2
  assert f"--candidates-file {path}: line 2 is an empty candidate id" in (
      capsys.readouterr().err)


def test_serve_refuses_a_version_folder_as_the_base_path(exported, capsys):
  assert cli.main(["serve", "--port", "0", "--host", "127.0.0.1",
                   "--model-base-path", exported.export_dir]) == 2
  err = capsys.readouterr().err
  assert "looks like a version folder (it holds saved_model.pb)" in err
  assert f"pass its parent, {os.path.dirname(exported.export_dir)!r}" in err
