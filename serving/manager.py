"""Model versions over time: load the aspired ones, warm them up, swap them in, report their states.

As TF Serving's file-system source and manager do: each poll lists the
version folders of every model, picks the versions its policy aspires to
(by default the newest), loads and warms up those not loaded yet, and only
then unloads the versions no longer aspired to. A version that fails to
load or warm up is refused: its error is logged and reported by
GetModelStatus, the versions already loaded keep serving, and it is tried
again only once its files change (a pusher still writing it).
"""

import dataclasses
import logging
import os
import threading
import time
from typing import Dict, Iterable, Mapping, Optional, Sequence

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2

from serving import config as config_lib
from serving import errors
from serving import layout
from serving import servable as servable_lib
from serving import warmup

_LOG = logging.getLogger(__name__)
State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass(frozen=True)
class VersionState:
  """A version's state as GetModelStatus reports it; END with an error if refused."""

  state: int
  error_code: grpc.StatusCode = grpc.StatusCode.OK
  error_message: str = ""


def _error_status(error: Exception):
  if isinstance(error, errors.ServingError):
    return error.code, error.message
  if isinstance(error, tf.errors.OpError):
    return errors.from_tf(error)
  return grpc.StatusCode.UNKNOWN, f"{type(error).__name__}: {error}"


class Model:
  """The versions of one model: loaded servables and every version's state.

  `batching`: the server batches requests, so warmup runs the merged calls
  too (warmup.run).
  """

  def __init__(self, config: config_lib.ModelConfig, batching: bool = False):
    self.config = config
    self._batching = batching
    self._lock = threading.Lock()
    self._loaded: Dict[int, servable_lib.Servable] = {}
    self._states: Dict[int, VersionState] = {}
    self._refused: Dict[int, Optional[layout.Fingerprint]] = {}

  @property
  def name(self) -> str:
    return self.config.name

  def _set_state(self, version: int, state: VersionState) -> None:
    with self._lock:
      self._states[version] = state

  def _fingerprint(self, path: str) -> Optional[layout.Fingerprint]:
    try:
      return layout.fingerprint(path)
    except tf.errors.OpError:  # A file vanished while listing: in flux.
      return None

  def _still_refused(self, version: int, path: str) -> bool:
    if version not in self._refused:
      return False
    current = self._fingerprint(path)
    return current is None or current == self._refused[version]

  def _load(self, version: int, path: str) -> bool:
    """Loads and warms up a version; True if it now serves."""
    before = self._fingerprint(path)
    self._set_state(version, VersionState(State.LOADING))
    _LOG.info("model %s: loading version %d from %s", self.name, version,
              path)
    start = time.monotonic()
    try:
      servable = servable_lib.Servable(version, path)
      num_warmup = warmup.run(servable, self._batching)
    # Any failure to load or run a version refuses it (it is the input that
    # is broken, not the server): logged with its traceback and reported.
    except Exception as e:  # pylint: disable=broad-except
      _LOG.exception("model %s: refusing version %d from %s: %s", self.name,
                     version, path, e)
      code, message = _error_status(e)
      self._refused[version] = before
      self._set_state(version, VersionState(State.END, code, message))
      return False
    _LOG.info("model %s: version %d loaded and warmed up in %.1f s (%d "
              "warmup requests); serving it", self.name, version,
              time.monotonic() - start, num_warmup)
    with self._lock:
      self._loaded[version] = servable
      self._states[version] = VersionState(State.AVAILABLE)
    self._refused.pop(version, None)
    return True

  def _unload(self, versions: Iterable[int]) -> None:
    for version in versions:
      with self._lock:
        # Requests in flight hold the servable and finish on it.
        del self._loaded[version]
        self._states[version] = VersionState(State.END)
      _LOG.info("model %s: unloaded version %d", self.name, version)

  def poll(self) -> None:
    """Loads the aspired versions on disk, then unloads the others."""
    try:
      on_disk = layout.list_versions(self.config.base_path)
    except tf.errors.OpError as e:
      _LOG.warning("model %s: cannot list %s: %s", self.name,
                   self.config.base_path, e)
      return
    candidates = {v: p for v, p in on_disk.items()
                  if not self._still_refused(v, p)}
    had_versions = bool(self._loaded)
    while True:
      aspired = self.config.policy.select(list(candidates))
      pending = [v for v in aspired if v not in self._loaded]
      if not pending:
        break
      if not self._load(pending[0], candidates[pending[0]]):
        del candidates[pending[0]]
    self._unload(sorted(set(self._loaded) - set(aspired)))
    if had_versions and not self._loaded:
      _LOG.warning("model %s: no version left to serve under %s; requests "
                   "get UNAVAILABLE until one is written", self.name,
                   self.config.base_path)

  def servable(self, version: Optional[int] = None,
               label: Optional[str] = None) -> servable_lib.Servable:
    """The servable of `version` (or `label`), by default the newest.

    Raises:
      errors.ServingError: NOT_FOUND for a version not loaded (TF Serving's
        "Servable not found"), INVALID_ARGUMENT for a label not configured,
        UNAVAILABLE when no version is loaded yet.
    """
    with self._lock:
      loaded = dict(self._loaded)
    if label:
      if label not in self.config.version_labels:
        raise errors.invalid_argument(
            f"unknown version label {label!r} of model {self.name!r}; "
            f"labels: {sorted(self.config.version_labels)}")
      version = self.config.version_labels[label]
    if version is None:
      if not loaded:
        raise errors.unavailable(
            f"model {self.name!r} has no version available yet")
      return loaded[max(loaded)]
    if version not in loaded:
      raise errors.not_found(
          f"unknown version {version} of model {self.name!r}; available "
          f"versions: {sorted(loaded)}")
    return loaded[version]

  def states(self) -> Dict[int, VersionState]:
    with self._lock:
      return dict(self._states)


class Manager:
  """Every model of the config, polled for new versions in the background."""

  def __init__(self, configs: Sequence[config_lib.ModelConfig],
               poll_seconds: float = 1.0, batching: bool = False):
    self._models: Mapping[str, Model] = {c.name: Model(c, batching)
                                         for c in configs}
    self._poll_seconds = poll_seconds
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None

  def start(self) -> None:
    """Loads what is on disk now, then polls every `poll_seconds` (if > 0).

    Raises:
      config_lib.ConfigError: a model's base path does not exist.
    """
    for model in self._models.values():
      base_path = model.config.base_path
      if not tf.io.gfile.isdir(base_path):
        raise config_lib.ConfigError(
            f"base path {base_path!r} of model {model.name!r} "
            "is not a directory")
      if tf.io.gfile.exists(os.path.join(base_path,
                                         layout.SAVED_MODEL_FILE)):
        raise config_lib.ConfigError(
            f"base path {base_path!r} of model {model.name!r} looks like a "
            f"version folder (it holds {layout.SAVED_MODEL_FILE}); pass its "
            f"parent, {os.path.dirname(os.path.normpath(base_path))!r}, "
            "which holds the numbered versions")
      model.poll()
      if not model.states():
        _LOG.warning("model %s: no version under %s yet", model.name,
                     model.config.base_path)
    if self._poll_seconds > 0:
      self._thread = threading.Thread(target=self._poll_loop,
                                      name="version-poller", daemon=True)
      self._thread.start()

  def _poll_loop(self) -> None:
    while not self._stop.wait(self._poll_seconds):
      for model in self._models.values():
        try:
          model.poll()
        # The poller must outlive a failed pass; the next pass retries.
        except Exception:  # pylint: disable=broad-except
          _LOG.exception("model %s: poll failed", model.name)

  def stop(self) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join()

  def model(self, name: str) -> Model:
    if name not in self._models:
      raise errors.not_found(
          f"unknown model {name!r}; this server serves "
          f"{sorted(self._models)}")
    return self._models[name]
