"""The controller's configuration: one JSON file per environment, rendered by the generator, mounted from a ConfigMap.

Read here, validated with errors that name the file and the JSON path, and reloaded when a file changes (the kubelet
swaps a ConfigMap volume's symlink, so a file's inode, size or mtime changes). A reload that fails keeps the last good
configuration and says why (``/readyz`` and a metric); with no good configuration at all every check denies: the
controller fails closed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import RolloutsError
from .decision import HOOK_TYPES

API_VERSION = "rollouts.dev/v1alpha1"
KIND = "AnalysisControllerConfig"
POLL_INTERVAL = 1.0  # seconds: stat the files at most this often

_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d))+$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# sections of a service that are objects or lists; their owners' checks read the inside
_OBJECT_SECTIONS = ("targets", "slo", "mtls", "probes", "judge", "errorBudget", "approval", "timeouts")
_LIST_SECTIONS = ("changeWindows", "freezes", "notifications")


class ConfigError(RolloutsError):
    """The configuration cannot be used: the message names the file and the JSON path of the first problem."""


@dataclass(frozen=True)
class EnvironmentConfig:
    """One environment's file: its name, Prometheus, and the services by the Canary's ``namespace/name``."""

    environment: str
    path: str
    prometheus: dict[str, Any]
    services: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Config:
    """Every environment this controller serves. A Canary key is in at most one of them (checked on load)."""

    environments: dict[str, EnvironmentConfig]

    def lookup(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """``shop/checkout`` -> (environment, the service's configuration), or None when no environment has it."""
        for name, env in self.environments.items():
            service = env.services.get(key)
            if service is not None:
                return name, service
        return None

    @property
    def environment_names(self) -> list[str]:
        return sorted(self.environments)

    @property
    def service_count(self) -> int:
        return sum(len(env.services) for env in self.environments.values())


# --- reading and validating -------------------------------------------------------------------------------------


def config_files(path: str) -> list[str]:
    """The files ``--config`` names: the file itself, or every ``*.json`` and ``*/config.json`` of a directory (dot
    entries such as a ConfigMap volume's ``..data`` are skipped), sorted so that loading is deterministic."""
    if not os.path.isdir(path):
        return [path]
    found = glob.glob(os.path.join(path, "*.json")) + glob.glob(os.path.join(path, "*", "config.json"))
    return sorted(p for p in found if os.path.isfile(p))


def load(path: str) -> Config:
    """Read and validate the configuration at ``path`` (a file or a directory). Raises ConfigError."""
    files = config_files(path)
    if not files:
        raise ConfigError(f"{path}: no configuration files (*.json or */config.json) in the directory")
    environments: dict[str, EnvironmentConfig] = {}
    owner: dict[str, str] = {}  # canary key -> environment
    for file in files:
        env = load_file(file)
        if env.environment in environments:
            raise ConfigError(f"{file}: $.environment: environment {env.environment!r} is also in "
                              f"{environments[env.environment].path}")
        for key in env.services:
            if key in owner:
                raise ConfigError(f"{file}: $.services[{key!r}]: the canary {key} is also in environment "
                                  f"{owner[key]!r}; one controller cannot tell which applies")
            owner[key] = env.environment
        environments[env.environment] = env
    return Config(environments)


def load_file(file: str) -> EnvironmentConfig:
    """Read one environment's file. Raises ConfigError naming the file and the JSON path."""
    try:
        with open(file, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError(f"{file}: cannot read: {e.strerror or e}") from e
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{file}: not valid JSON: {e}") from e
    try:
        return _environment(doc, file)
    except _Invalid as e:
        raise ConfigError(f"{file}: {e.path}: {e.message}") from None


class _Invalid(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _expect(value: Any, kind: type | tuple[type, ...], path: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _Invalid(path, f"expected {what}, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _environment(doc: Any, file: str) -> EnvironmentConfig:
    _expect(doc, dict, "$", "an object")
    if doc.get("apiVersion") != API_VERSION:
        raise _Invalid("$.apiVersion", f"expected {API_VERSION!r}, got {doc.get('apiVersion')!r}")
    if doc.get("kind") != KIND:
        raise _Invalid("$.kind", f"expected {KIND!r}, got {doc.get('kind')!r}")
    environment = _expect(doc.get("environment"), str, "$.environment", "the environment's name (a string)")
    if not environment:
        raise _Invalid("$.environment", "must not be empty")
    prometheus = _expect(doc.get("prometheus", {}), dict, "$.prometheus", "an object")
    if "address" in prometheus:
        _expect(prometheus["address"], str, "$.prometheus.address", "a URL (a string)")
    if "timeout" in prometheus:
        _duration(prometheus["timeout"], "$.prometheus.timeout")
    services = _expect(doc.get("services"), dict, "$.services", "an object of services by namespace/name")
    for key, service in services.items():
        _service(key, service, f"$.services[{key!r}]")
    return EnvironmentConfig(environment, file, prometheus, services)


def _service(key: str, service: Any, path: str) -> None:
    namespace, _, name = key.partition("/")
    if not namespace or not name or "/" in name:
        raise _Invalid(path, "the key must be the Canary's namespace/name")
    _expect(service, dict, path, "an object")
    for section in _OBJECT_SECTIONS:
        if section in service:
            _expect(service[section], dict, f"{path}.{section}", "an object")
    for section in _LIST_SECTIONS:
        if section in service:
            _expect(service[section], list, f"{path}.{section}", "an array")
    for hook, seconds in service.get("timeouts", {}).items():
        if hook not in HOOK_TYPES:
            raise _Invalid(f"{path}.timeouts", f"{hook!r} is not a hook type: expected one of {', '.join(HOOK_TYPES)}")
        _expect(seconds, (int, float), f"{path}.timeouts.{hook}", "the webhook's timeout in seconds (a number)")
        if seconds <= 0:
            raise _Invalid(f"{path}.timeouts.{hook}", f"must be positive, got {seconds}")
    for i, window in enumerate(service.get("changeWindows", [])):
        _change_window(window, f"{path}.changeWindows[{i}]")
    for i, freeze in enumerate(service.get("freezes", [])):
        _freeze(freeze, f"{path}.freezes[{i}]")


def _change_window(window: Any, path: str) -> None:
    _expect(window, dict, path, "an object")
    days = _expect(window.get("days"), list, f"{path}.days", "a list of days (Mon..Sun)")
    if not days:
        raise _Invalid(f"{path}.days", "must name at least one day")
    for i, day in enumerate(days):
        if day not in _DAYS:
            raise _Invalid(f"{path}.days[{i}]", f"expected one of {', '.join(_DAYS)}, got {day!r}")
    for end in ("start", "end"):
        value = _expect(window.get(end), str, f"{path}.{end}", "a time HH:MM")
        if not _HHMM.match(value):
            raise _Invalid(f"{path}.{end}", f"expected a time HH:MM (00:00-23:59), got {value!r}")
    if window["start"] == window["end"]:
        raise _Invalid(f"{path}.end", "equals start: the window would be empty")
    # an unknown zone is not a load error: the window check denies with the reason (zoneinfo data can differ
    # between the render's machine and the controller's image)
    _expect(window.get("timeZone", "UTC"), str, f"{path}.timeZone", "an IANA time zone (a string)")


def _freeze(freeze: Any, path: str) -> None:
    _expect(freeze, dict, path, "an object")
    bounds = [_instant(freeze.get(end), f"{path}.{end}") for end in ("start", "end")]
    if bounds[1] <= bounds[0]:
        raise _Invalid(f"{path}.end", "must be after start")
    if "reason" in freeze:
        _expect(freeze["reason"], str, f"{path}.reason", "a string")


def _instant(value: Any, path: str) -> datetime:
    text = _expect(value, str, path, "a UTC time such as 2026-12-20T00:00:00Z")
    try:
        instant = parse_instant(text)
    except ValueError:
        raise _Invalid(path, f"expected a UTC time such as 2026-12-20T00:00:00Z, got {text!r}") from None
    return instant


def parse_instant(text: str) -> datetime:
    """An RFC 3339 time with a zone (``Z`` or an offset) -> an aware datetime. Raises ValueError otherwise."""
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return instant


def _duration(value: Any, path: str) -> None:
    text = _expect(value, str, path, "a duration such as 5s")
    if not _DURATION.match(text):
        raise _Invalid(path, f"expected a duration such as 500ms, 5s, 1m30s, got {text!r}")


# --- reloading ----------------------------------------------------------------------------------------------------


Signature = tuple[tuple[str, int, int, int], ...]


@dataclass
class ReloadStatus:
    """What /readyz and the metrics report: the config in use (None: none ever loaded), when it was loaded, and the
    error of the last attempt when that attempt failed."""

    config: Config | None = None
    loaded_at: float | None = None  # time.time() of the good load in use
    error: str | None = None
    reloads_ok: int = 0
    reloads_failed: int = 0


@dataclass
class ConfigSource:
    """The configuration at ``path``, reloaded when a file appears, disappears or changes (inode, size, mtime).

    ``current()`` stats the files at most once per ``poll_interval`` (a request path, no thread): cheap enough for
    every webhook call. ``on_reload(ok)`` is told of every attempt (the app counts them in a metric)."""

    path: str | None
    poll_interval: float = POLL_INTERVAL
    monotonic: Callable[[], float] = time.monotonic
    on_reload: Callable[[bool], None] | None = None
    status: ReloadStatus = field(default_factory=ReloadStatus)
    _signature: Signature | None = None
    _polled_at: float | None = None

    def current(self) -> ReloadStatus:
        """The status after a poll if one is due."""
        now = self.monotonic()
        if self._polled_at is None or now - self._polled_at >= self.poll_interval:
            self._polled_at = now
            self.poll()
        return self.status

    def poll(self) -> None:
        """Reload when the files' signature differs from the last attempt's."""
        if self.path is None:
            self.status.error = "no configuration given (--config)"
            return
        signature = _signature(self.path)
        if signature == self._signature:
            return
        self._signature = signature
        try:
            config = load(self.path)
        except ConfigError as e:
            self.status.error = e.message
            self.status.reloads_failed += 1
            self._tell(False)
            return
        self.status.config, self.status.loaded_at, self.status.error = config, time.time(), None
        self.status.reloads_ok += 1
        self._tell(True)

    def _tell(self, ok: bool) -> None:
        if self.on_reload is not None:
            self.on_reload(ok)


def _signature(path: str) -> Signature:
    out = []
    for file in [path] if not os.path.isdir(path) else config_files(path):
        try:
            st = os.stat(file)  # follows the ConfigMap volume's symlinks: a swap changes the inode
        except OSError:
            out.append((file, -1, -1, -1))
            continue
        out.append((file, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)
