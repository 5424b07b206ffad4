"""The controller's configuration: every error names the file and the JSON path; reloads keep the last good one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from rollouts.controller.config import ConfigError, ConfigSource, config_files, load

from .controller_server import config_doc

GOOD_SERVICE: dict[str, Any] = {
    "service": "checkout",
    "changeWindows": [{"days": ["Mon", "Tue"], "start": "09:00", "end": "17:00", "timeZone": "Europe/Berlin"}],
    "freezes": [{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", "reason": "year-end freeze"}],
    "targets": {"canary": "checkout-canary", "primary": "checkout-primary", "namespace": "shop"},
}


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_a_file_loads_and_a_canary_is_found_by_namespace_and_name(tmp_path: Path) -> None:
    file = write(tmp_path / "config.json", config_doc({"shop/checkout": GOOD_SERVICE}))
    config = load(str(file))
    assert config.lookup("shop/checkout") == ("production", GOOD_SERVICE)
    assert config.lookup("shop/billing") is None
    assert (config.environment_names, config.service_count) == (["production"], 1)


def test_a_directory_loads_every_environment_and_skips_dot_entries(tmp_path: Path) -> None:
    write(tmp_path / "staging" / "config.json", config_doc({"shop-staging/checkout": GOOD_SERVICE}, "staging"))
    write(tmp_path / "production.json", config_doc({"shop/checkout": GOOD_SERVICE}))
    write(tmp_path / "..data" / "config.json", "not even json")  # a ConfigMap volume's internals
    assert config_files(str(tmp_path)) == [str(tmp_path / "production.json"),
                                           str(tmp_path / "staging" / "config.json")]
    config = load(str(tmp_path))
    assert config.environment_names == ["production", "staging"]
    assert config.lookup("shop-staging/checkout") == ("staging", GOOD_SERVICE)


def broken(path: str, value: Any) -> dict[str, Any]:
    """The good document with one value replaced at a dotted path (a service key is one segment)."""
    doc: dict[str, Any] = config_doc({"shop/checkout": json.loads(json.dumps(GOOD_SERVICE))})
    parts = path.split("|")
    node: Any = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


DELETE = object()
S = "$.services['shop/checkout']"


@pytest.mark.parametrize(("path", "value", "message"), [
    ("apiVersion", "v1", "$.apiVersion: expected 'rollouts.dev/v1alpha1', got 'v1'"),
    ("kind", "ConfigMap", "$.kind: expected 'AnalysisControllerConfig', got 'ConfigMap'"),
    ("environment", 3, "$.environment: expected the environment's name (a string), got a number"),
    ("environment", "", "$.environment: must not be empty"),
    ("services", DELETE, "$.services: expected an object of services by namespace/name, got null"),
    ("prometheus|timeout", "5 seconds", "$.prometheus.timeout: expected a duration such as 500ms, 5s, 1m30s, "
     "got '5 seconds'"),
    ("services|shop/checkout|targets", [], f"{S}.targets: expected an object, got an array"),
    ("services|shop/checkout|changeWindows", {}, f"{S}.changeWindows: expected an array, got an object"),
    ("services|shop/checkout|changeWindows|0|days", [], f"{S}.changeWindows[0].days: must name at least one day"),
    ("services|shop/checkout|changeWindows|0|days|1", "Tuesday",
     f"{S}.changeWindows[0].days[1]: expected one of Mon, Tue, Wed, Thu, Fri, Sat, Sun, got 'Tuesday'"),
    ("services|shop/checkout|changeWindows|0|start", "9:00",
     f"{S}.changeWindows[0].start: expected a time HH:MM (00:00-23:59), got '9:00'"),
    ("services|shop/checkout|changeWindows|0|end", "24:00",
     f"{S}.changeWindows[0].end: expected a time HH:MM (00:00-23:59), got '24:00'"),
    ("services|shop/checkout|changeWindows|0|end", "09:00", f"{S}.changeWindows[0].end: equals start: the window "
     "would be empty"),
    ("services|shop/checkout|changeWindows|0|timeZone", 1,
     f"{S}.changeWindows[0].timeZone: expected an IANA time zone (a string), got a number"),
    ("services|shop/checkout|freezes|0|start", "2026-12-20",
     f"{S}.freezes[0].start: expected a UTC time such as 2026-12-20T00:00:00Z, got '2026-12-20'"),
    ("services|shop/checkout|freezes|0|end", "2026-12-19T00:00:00Z", f"{S}.freezes[0].end: must be after start"),
    ("services|shop/checkout|freezes|0|reason", None, f"{S}.freezes[0].reason: expected a string, got null"),
], ids=lambda v: v if (isinstance(v, str) and "|" in v) or v in ("apiVersion", "kind", "environment") else None)
def test_an_invalid_config_names_the_file_and_the_json_path(tmp_path: Path, path: str, value: Any,
                                                           message: str) -> None:
    file = write(tmp_path / "config.json", broken(path, value))
    with pytest.raises(ConfigError) as raised:
        load(str(file))
    assert raised.value.message == f"{file}: {message}"


def test_a_service_key_must_be_namespace_slash_name(tmp_path: Path) -> None:
    file = write(tmp_path / "config.json", config_doc({"checkout": GOOD_SERVICE}))
    with pytest.raises(ConfigError, match=r"\$\.services\['checkout'\]: the key must be the Canary's namespace/name"):
        load(str(file))


def test_invalid_json_and_an_empty_directory_are_errors(tmp_path: Path) -> None:
    file = write(tmp_path / "config.json", '{"apiVersion": ')
    with pytest.raises(ConfigError, match=r"config\.json: not valid JSON: Expecting value: line 1 column 16"):
        load(str(file))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no configuration files \(\*\.json or \*/config\.json\)"):
        load(str(empty))


def test_a_canary_in_two_environments_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.json", config_doc({"shop/checkout": GOOD_SERVICE}, "production"))
    write(tmp_path / "b.json", config_doc({"shop/checkout": GOOD_SERVICE}, "staging"))
    with pytest.raises(ConfigError) as raised:
        load(str(tmp_path))
    assert raised.value.message == (f"{tmp_path / 'b.json'}: $.services['shop/checkout']: the canary shop/checkout "
                                    "is also in environment 'production'; one controller cannot tell which applies")


def test_one_environment_in_two_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.json", config_doc({"shop/a": GOOD_SERVICE}))
    write(tmp_path / "b.json", config_doc({"shop/b": GOOD_SERVICE}))
    with pytest.raises(ConfigError, match=r"b\.json: \$\.environment: environment 'production' is also in .*a\.json"):
        load(str(tmp_path))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reload_polls_at_most_once_a_second_and_keeps_the_last_good(tmp_path: Path) -> None:
    file = write(tmp_path / "config.json", config_doc({"shop/a": GOOD_SERVICE}))
    clock, told = Clock(), list[bool]()
    source = ConfigSource(str(file), monotonic=clock, on_reload=told.append)
    first = source.current().config
    assert first is not None and first.lookup("shop/a") is not None

    write(file, config_doc({"shop/a": GOOD_SERVICE, "shop/b": GOOD_SERVICE}))
    clock.now += 0.5
    assert source.current().config is first  # not polled yet: under a second since the last poll
    clock.now += 0.5
    second = source.current().config
    assert second is not None and second.lookup("shop/b") is not None

    write(file, "{broken")
    clock.now += 1
    status = source.current()
    assert status.config is second
    assert status.error is not None and status.error.startswith(f"{file}: not valid JSON")
    clock.now += 1
    assert source.current().reloads_failed == 1  # unchanged files are not read again

    write(file, config_doc({"shop/c": GOOD_SERVICE}))
    clock.now += 1
    status = source.current()
    assert status.error is None and status.config is not None and status.config.lookup("shop/c") is not None
    assert told == [True, True, False, True]


def test_a_replaced_file_of_the_same_size_and_mtime_is_seen_by_its_inode(tmp_path: Path) -> None:
    file = write(tmp_path / "config.json", config_doc({"shop/a": GOOD_SERVICE}))
    clock = Clock()
    source = ConfigSource(str(file), monotonic=clock)
    source.current()
    stat = file.stat()
    replacement = write(tmp_path / "new.json", config_doc({"shop/b": GOOD_SERVICE}))
    assert replacement.stat().st_size == stat.st_size
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, file)
    clock.now += 1
    config = source.current().config
    assert config is not None and config.lookup("shop/b") is not None


def test_a_directory_reloads_when_an_environment_file_appears_or_goes(tmp_path: Path) -> None:
    write(tmp_path / "production" / "config.json", config_doc({"shop/a": GOOD_SERVICE}))
    clock = Clock()
    source = ConfigSource(str(tmp_path), monotonic=clock)
    assert source.current().config is not None
    write(tmp_path / "staging" / "config.json", config_doc({"shop-staging/a": GOOD_SERVICE}, "staging"))
    clock.now += 1
    config = source.current().config
    assert config is not None and config.environment_names == ["production", "staging"]
    (tmp_path / "production" / "config.json").unlink()
    clock.now += 1
    config = source.current().config
    assert config is not None and config.environment_names == ["staging"]
    assert config.lookup("shop/a") is None  # a Canary whose environment went away is denied, not passed


def test_no_config_path_means_no_config_and_the_reason(tmp_path: Path) -> None:
    status = ConfigSource(None).current()
    assert (status.config, status.error) == (None, "no configuration given (--config)")
    missing = ConfigSource(str(tmp_path / "absent.json")).current()
    assert missing.config is None
    assert missing.error == f"{tmp_path / 'absent.json'}: cannot read: No such file or directory"
