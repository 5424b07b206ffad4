"""The rules of the analysis controller's spec fields (judge, freezes, notifications, probe headers): a spec that
breaks one gives exactly that finding at its file:line:col, and the same spec fixed lints clean.

``CONTROLLER_CASES`` is in the same shape as test_rules.CASES, so that file's registry check can take them in."""

from __future__ import annotations

import pytest
from rollouts.lint.rules import RULES
from test_rules import BASE, Case, F, _findings, _write

CONTROLLER_CASES = [
    Case("judge-window-short",
         BASE + "  judge:\n    window: 30s\n    metrics: [{name: errors, query: 'sum(x)'}]\n", f"{F}:20:13",
         ("window: 30s", "window: 2m")),
    Case("judge-scores-inverted",
         BASE + "  judge:\n    passScore: 70\n    marginalScore: 75\n    metrics: [{name: errors, query: 'sum(x)'}]\n",
         f"{F}:21:20", ("marginalScore: 75", "marginalScore: 60")),
    Case("freeze-order",
         BASE + "  policy:\n    freezes:\n      - start: '2026-12-20T00:00:00Z'\n"
                "        end: '2026-01-04T00:00:00Z'\n        reason: year-end\n", f"{F}:22:14",
         ("end: '2026-01-04", "end: '2027-01-04")),
    Case("notification-url-credentials",
         BASE + "  notifications:\n    - name: chat\n      url: https://bot:hunter2@chat.example/hook\n"
                "      secretRef: {name: chat-hmac, key: key}\n", f"{F}:21:12",
         ("bot:hunter2@", "")),
    Case("probe-header-secret",
         BASE + "  probes:\n    flows:\n      - name: buy\n        steps:\n          - path: /cart\n"
                "            headers: {X-Trace: on, Authorization: Bearer abc.def}\n", f"{F}:24:51",
         ("Authorization: Bearer abc.def", "Accept: application/json")),
    Case("probe-flow-invalid",
         BASE + "  probes:\n    flows:\n      - name: buy\n        steps:\n          - {name: cart, path: /cart}\n"
                "          - {name: cart, path: /pay}\n", f"{F}:24:20",
         ("name: cart, path: /pay", "name: pay, path: /pay")),
    Case("probe-flow-invalid",
         BASE + "  probes:\n    flows:\n      - name: buy\n        steps:\n          - {path: /cart}\n"
                "          - {path: '/cart/{{ cartId }}'}\n", f"{F}:24:20",
         ("- {path: /cart}", "- {path: /cart, capture: {cartId: 'id=([a-z0-9]+)'}}")),
    Case("probe-flow-invalid",
         BASE + "  probes:\n    flows:\n      - name: buy\n        steps:\n"
                "          - {path: /cart, capture: {cartId: 'id=[a-z0-9]+'}}\n", f"{F}:23:45",
         ("id=[a-z0-9]+", "id=([a-z0-9]+)")),
    Case("service-name-reserved", BASE, "services/namespaces/rollouts.yaml:4:9", ("", ""), directory="namespaces"),
]


@pytest.mark.parametrize("case", CONTROLLER_CASES, ids=lambda c: c.rule)
def test_rule_finds_the_mistake_at_its_place(tmp_path, case):
    root, path = _write(tmp_path, case, case.body)
    if case.directory != "web":
        with open(path, encoding="utf-8") as fh:
            text = fh.read().replace("name: web", f"name: {case.directory}", 1)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    assert _findings(root) == [(case.rule, case.where)]


@pytest.mark.parametrize("case", CONTROLLER_CASES, ids=lambda c: c.rule)
def test_rule_is_quiet_once_fixed(tmp_path, case):
    old, new = case.fix
    assert old in case.body, old
    fixed = case._replace(directory="web")  # the reserved name fixed: the service's own name and folder
    root, _ = _write(tmp_path, fixed, case.body.replace(old, new))
    assert _findings(root) == []


def test_every_controller_rule_is_registered():
    assert {c.rule.replace("-", "_") for c in CONTROLLER_CASES} <= set(RULES)


def test_an_unnamed_step_is_named_as_the_controller_names_it(tmp_path):
    body = BASE + ("  probes:\n    flows:\n      - name: buy\n        steps:\n          - {path: /cart}\n"
                   "          - {name: step-1, path: /pay}\n")
    root, _ = _write(tmp_path, CONTROLLER_CASES[0], body)
    assert _findings(root) == [("probe-flow-invalid", f"{F}:24:20")]


@pytest.mark.parametrize(("url", "bad"), [
    ("https://chat.example/hook?token=abc", True),
    ("https://chat.example/hook?api_key=abc", True),
    ("https://user@chat.example/hook", True),
    ("https://chat.example/hooks/T0/B1?channel=ops", False),
    ("http://receiver.ops:8080/events", False),
])
def test_notification_url_credentials_in_query_and_userinfo(tmp_path, url, bad):
    body = BASE + f"  notifications:\n    - name: chat\n      url: '{url}'\n      secretRef: {{name: h, key: k}}\n"
    root, _ = _write(tmp_path, CONTROLLER_CASES[0]._replace(rule="x"), body)
    assert [r for r, _ in _findings(root)] == (["notification-url-credentials"] if bad else [])


@pytest.mark.parametrize(("header", "bad"), [
    ("Cookie: session=1", True), ("X-Api-Key: k1", True), ("X-Client: Basic dXNlcg==", True),
    ("X-Request-Id: abc", False), ("Accept: text/plain", False),
])
def test_probe_header_secret_by_name_and_by_value(tmp_path, header, bad):
    body = BASE + ("  probes:\n    flows:\n      - name: buy\n        steps:\n          - path: /cart\n"
                   f"            headers: {{{header}}}\n")
    root, _ = _write(tmp_path, CONTROLLER_CASES[0]._replace(rule="x"), body)
    assert [r for r, _ in _findings(root)] == (["probe-header-secret"] if bad else [])


def test_a_freeze_in_an_environment_override_names_it(tmp_path):
    body = BASE + ("  environments:\n    staging: {}\n    production:\n      policy:\n        freezes:\n"
                   "          - {start: '2026-12-20T00:00:00Z', end: '2026-12-19T00:00:00Z', reason: x}\n")
    root, _ = _write(tmp_path, CONTROLLER_CASES[0]._replace(rule="x"), body)
    from rollouts.lint import lint
    from rollouts.project import load_project

    findings = lint(load_project(root)).findings
    assert [(f.rule, f.message.split("]")[0]) for f in findings] == [("freeze-order", "[production")]
