"""Every semantic rule: a spec that breaks it gives exactly that finding at the exact file:line:col, and the same
spec with the mistake fixed lints clean (no finding at all)."""

from __future__ import annotations

import os
import re
from typing import NamedTuple

import pytest
from rollouts.lint import lint
from rollouts.lint.rules import RULES, all_rules
from rollouts.project import load_project

HEADER = """\
apiVersion: rollouts/v1alpha1
kind: ServiceRollout
metadata:
  name: web
  namespace: shop
  owner: team-web
spec:
"""  # the body starts on line 8

BASE = """\
  workload:
    chart: {repository: oci://ghcr.io/acme/charts/web, version: 1.0.0}
    image: {repository: ghcr.io/acme/web, tag: 1.0.0}
    autoscaling: {minReplicas: 2, maxReplicas: 4}
  strategy:
    type: canary
    steps: [10, 50]
    interval: 1m
    threshold: 2
  gates:
    loadTest: {rps: 5}
"""

FLUX = """\
  workload:
    chart: {repository: https://charts.acme.example/stable, name: web, version: 1.0.0, tests: [web-test]}
    image: {repository: ghcr.io/acme/web, tag: 1.0.0}
    autoscaling: {minReplicas: 2, maxReplicas: 4}
  strategy:
    type: fluxRollback
"""  # Flux alone: no Flagger


class Case(NamedTuple):
    rule: str
    body: str  # the spec body (under spec:), breaking the rule
    where: str  # expected file:line:col
    fix: tuple[str, str]  # replace this with that, and the spec lints clean
    directory: str = "web"
    project: str = ""  # rollouts.project.yaml text


def base(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


F = "services/web/rollouts.yaml"

CASES = [
    Case("name-too-long", BASE, "services/{long}/rollouts.yaml:4:9", ("", "")),
    Case("steps-increasing", base("[10, 50]", "[10, 50, 40]"), f"{F}:14:21", ("40]", "80]")),
    Case("canary-without-steps", base("    steps: [10, 50]\n", ""), f"{F}:13:11",
         ("type: canary\n", "type: canary\n    steps: [20]\n")),
    Case("iterations-required", base("type: canary\n    steps: [10, 50]", "type: blueGreen"), f"{F}:13:11",
         ("blueGreen\n", "blueGreen\n    iterations: 4\n")),
    Case("ab-test-without-match", base("type: canary\n    steps: [10, 50]", "type: abTest\n    iterations: 5"),
         f"{F}:13:11", ("iterations: 5\n", "iterations: 5\n    match: [{headers: {x-beta: {exact: 'on'}}}]\n")),
    Case("match-without-ab-test", base("    steps: [10, 50]\n",
                                       "    steps: [10, 50]\n    match: [{headers: {x-beta: {exact: 'on'}}}]\n"),
         f"{F}:15:12", ("    match: [{headers: {x-beta: {exact: 'on'}}}]\n", "")),
    Case("strategy-field-ignored", base("steps: [10, 50]", "steps: [10, 50]\n    iterations: 4"), f"{F}:15:17",
         ("    iterations: 4\n", "")),
    Case("canary-without-steps", base("    steps: [10, 50]\n", "    maxWeight: 50\n"), f"{F}:13:11",
         ("    maxWeight: 50\n", "    maxWeight: 50\n    stepWeight: 10\n")),
    Case("steps-and-step-weight", base("steps: [10, 50]", "steps: [10, 50]\n    stepWeight: 20"), f"{F}:15:17",
         ("    steps: [10, 50]\n", "")),
    Case("max-weight-overshoot", base("steps: [10, 50]", "stepWeight: 20\n    maxWeight: 50"), f"{F}:14:17",
         ("stepWeight: 20", "stepWeight: 25")),
    Case("strategy-field-ignored", base("steps: [10, 50]", "steps: [10, 50]\n    maxWeight: 50"), f"{F}:15:16",
         ("    maxWeight: 50\n", "")),
    Case("strategy-field-ignored", base("type: canary\n    steps: [10, 50]",
                                        "type: blueGreen\n    iterations: 4\n    stepWeight: 20"), f"{F}:15:17",
         ("    stepWeight: 20\n", "")),
    Case("progress-deadline", base("interval: 1m", "interval: 1m\n    progressDeadline: 60s"), f"{F}:16:23",
         ("progressDeadline: 60s", "progressDeadline: 5m")),
    Case("rollback-time", base("threshold: 2", "threshold: 6"), f"{F}:16:16", ("threshold: 6", "threshold: 3")),
    Case("rollout-duration", BASE + "  policy: {maxRolloutTime: 2m}\n", f"{F}:14:12",
         ("maxRolloutTime: 2m", "maxRolloutTime: 5m")),
    Case("interval-below-minimum", base("interval: 1m", "interval: 5s").replace("{rps: 5}", "{rps: 5, timeout: 2s}"),
         f"{F}:15:15",
         ("interval: 5s", "interval: 10s")),
    Case("min-replicas", base("minReplicas: 2", "minReplicas: 1"), f"{F}:11:32", ("minReplicas: 1", "minReplicas: 2")),
    Case("replica-range", base("maxReplicas: 4", "maxReplicas: 1"), f"{F}:11:48", ("maxReplicas: 1", "maxReplicas: 2")),
    Case("replicas-with-autoscaling", base("    autoscaling:", "    replicas: 3\n    autoscaling:"), f"{F}:11:15",
         ("    replicas: 3\n", "")),
    Case("metric-window-no-data", base("interval: 1m", "interval: 30s") + "  slo: {successRate: 99, interval: 30s}\n",
         f"{F}:19:36",
         ("interval: 30s", "interval: 1m")),
    Case("metric-window-short",
         base("interval: 1m", "interval: 2m") + "  slo: {interval: 1m}\n  policy: {maxRollbackTime: 10m}\n",
         f"{F}:19:19",
         ("slo: {interval: 1m}", "slo: {interval: 2m}")),
    Case("flagger-duration-format", BASE.replace("{rps: 5}", "{rps: 5, timeout: 15s}")
         + "  metrics:\n    - {name: lag, query: max(lag), max: 5, interval: 1h, address: http://prom.apps:9090}\n",
         f"{F}:20:54",
         ("interval: 1h", "interval: 60m")),
    Case("flagger-duration-format",
         base("interval: 1m", "interval: 1h\n    progressDeadline: 2h").replace("threshold: 2", "threshold: 1")
         + "  policy: {maxRollbackTime: 3h}\n", f"{F}:15:15", ("interval: 1h\n", "interval: 60m\n")),
    Case("metric-builtin-name",
         BASE + "  metrics:\n    - {name: request-duration, query: max(x), max: 500, address: http://prom.apps:9090}\n",
         f"{F}:20:14", ("request-duration", "latency")),
    Case("metric-duplicate-name", BASE + "  metrics:\n    - {name: lag, query: max(a), max: 5, address: http://prom.apps:9090}\n"
         "    - {name: lag, query: max(b), max: 9, address: http://prom.apps:9090}\n", f"{F}:21:14",
         ("lag, query: max(b)", "lag2, query: max(b)")),
    Case("metric-without-bounds", BASE + "  metrics:\n    - {name: lag, query: max(lag), address: http://prom.apps:9090}\n",
         f"{F}:20:14",
         ("max(lag),", "max(lag), max: 5,")),
    Case("metric-bounds-inverted",
         BASE + "  metrics:\n    - {name: rate, query: sum(x), min: 10, max: 1, address: http://prom.apps:9090}\n",
         f"{F}:20:40", ("min: 10", "min: 0")),
    Case("unknown-environment", BASE + "  environments:\n    staging: {}\n    prod: {}\n", f"{F}:21:5",
         ("prod: {}", "production: {}")),
    Case("unknown-environment", BASE + "  environments:\n    staging: {}\n    production: {}\n", f"{F}:20:5",
         ("staging", "qa"), project="environments: [qa, production]\n"),
    Case("image-registry",
         base("ghcr.io/acme/web", "docker.io/acme/web") + "  policy: {allowedRegistries: [ghcr.io/acme]}\n",
         f"{F}:10:25", ("docker.io", "ghcr.io")),
    Case("admission-without-registries", BASE, f"{F}:10:25",
         ("  gates:", "  policy: {allowedRegistries: [ghcr.io/acme]}\n  gates:"),
         project="admission: {key: {secretRef: cosign-pub}}\n"),
    Case("image-tag-mutable", base("tag: 1.0.0", "tag: latest"), f"{F}:10:48", ("tag: latest", "tag: 1.0.1")),
    Case("provider-gatewayapi-v1", base("type: canary", "type: canary\n    provider: gatewayapi:v1"), f"{F}:14:15",
         ("gatewayapi:v1\n", "gatewayapi:v1beta1\n")),
    Case("provider-linkerd-smi", base("type: canary", "type: canary\n    provider: linkerd"), f"{F}:14:15",
         ("linkerd\n", "gatewayapi:v1beta1\n")),
    Case("provider-kubernetes-strategy", base("type: canary", "type: canary\n    provider: kubernetes"),
         f"{F}:14:15", ("    provider: kubernetes\n", "")),
    Case("linkerd-unsupported-option",
         base("type: canary\n    steps: [10, 50]", "type: blueGreen\n    iterations: 3\n    mirror: true"),
         f"{F}:15:13", ("    mirror: true\n", "")),
    Case("route-timeout-ignored", base("threshold: 2", "threshold: 2\n    timeout: 5s"), f"{F}:17:14",
         ("    timeout: 5s\n", "")),
    Case("no-traffic", base("  gates:\n    loadTest: {rps: 5}\n", "  gates: {}\n"), f"{F}:17:10",
         ("  gates: {}\n", "  gates: {}\n  environments:\n    staging: {workload: {steadyTraffic: true}}\n"
          "    production: {workload: {steadyTraffic: true}}\n")),
    Case("gate-timeouts", base("interval: 1m", "interval: 20s").replace("{rps: 5}", "{rps: 5, timeout: 20s}")
         + "  slo: {interval: 1m}\n", f"{F}:18:33", ("timeout: 20s", "timeout: 5s")),
    Case("manual-approval-without-runbook", BASE + "    manualApproval: {beforePromotion: true}\n", f"{F}:19:21",
         ("true}", "true, runbook: https://runbooks.example/web}")),
    Case("skip-analysis-in-production", BASE + "  environments:\n    staging: {}\n"
         "    production: {strategy: {skipAnalysis: true}}\n", f"{F}:21:43",
         ("production: {strategy: {skipAnalysis: true}}", "production: {}")),
    Case("change-window-order", BASE + "  policy:\n    changeWindows:\n"
         "      - {days: [Mon], start: '18:00', end: '09:00'}\n", f"{F}:21:44", ("'09:00'", "'20:00'")),
    Case("unknown-time-zone", BASE + "  policy:\n    changeWindows:\n"
         "      - {days: [Mon], start: '09:00', end: '17:00', timeZone: Europe/Berlinn}\n", f"{F}:21:63",
         ("Berlinn", "Berlin")),
    Case("service-directory-name", BASE, "services/webapp/rollouts.yaml:4:9", ("", ""), directory="webapp"),
    Case("ingress-unmeshed-gateway", BASE + "  ingress:\n    hosts: [web.example]\n"
         "    gateway: {name: public, namespace: gw, networks: [10.0.0.0/8]}\n    meshedGateway: false\n",
         f"{F}:22:20", ("networks: [10.0.0.0/8]}\n    meshedGateway: false", "}\n    meshedGateway: true"),
         project="environments: [production]\n"),
    Case("environment-override-incomplete", BASE + "  environments:\n"
         "    staging: {gates: {acceptanceTest: {timeout: 1m}}}\n    production: {}\n", f"{F}:20:39",
         ("{timeout: 1m}", "{cmd: 'true', timeout: 1m}")),
    Case("ingress-gateway-networks-missing", BASE + "  ingress:\n    hosts: [web.example]\n"
         "    gateway: {name: public, namespace: gw}\n    meshedGateway: false\n", f"{F}:22:20",
         ("meshedGateway: false", "meshedGateway: true"), project="environments: [production]\n"),
    Case("metric-ratio-empty-numerator", BASE + "  metrics:\n    - name: errors\n      query: |\n"
         "        sum(rate(response_total{classification=\"failure\"}[{{ interval }}]))\n"
         "        / sum(rate(response_total[{{ interval }}]))\n      max: 0.01\n", f"{F}:21:14",
         ("sum(rate(response_total{classification=\"failure\"}[{{ interval }}]))",
          "(sum(rate(response_total{classification=\"failure\"}[{{ interval }}])) or vector(0))")),
    Case("metric-ratio-empty-numerator", BASE + "  metrics:\n"
         "    - {name: errors, query: 'sum(rate(response_total{status_code=~\"5..\"}[1m]))', max: 1}\n",
         f"{F}:20:29", ("[1m]))'", "[1m])) or vector(0)'")),
    Case("metric-not-in-linkerd-viz", BASE + "  metrics:\n    - {name: lag, query: max(queue_lag_seconds), max: 5}\n",
         f"{F}:20:26", ("max: 5}", "max: 5, address: http://prometheus.monitoring:9090}")),
    Case("metric-deployment-label",
         BASE + "  metrics:\n    - {name: lag, query: 'max(lag{deployment=~\"{{ target }}\"})',"
         " max: 5, address: http://prom.apps:9090}\n", f"{F}:20:26",
         ('deployment=~"{{ target }}"', 'pod=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"')),
    Case("ingress-host-collision", BASE + "  ingress:\n    hosts: [web.example]\n"
         "    gateway: {name: public, namespace: gw}\n    meshedGateway: true\n", f"{F}:20:13",
         ("    meshedGateway: true\n", "    meshedGateway: true\n  environments:\n"
          "    staging: {ingress: {hosts: [staging.web.example]}}\n    production: {}\n")),
    Case("manual-approval-gate-left-open", BASE + "    manualApproval:\n      beforeRollout: true\n"
         "      runbook: https://runbooks.example/web\n      closeAfterRollout: false\n", f"{F}:22:26",
         ("closeAfterRollout: false", "closeAfterRollout: true")),
    Case("helm-test-without-rbac", BASE + "    helmTest: {grantRBAC: false}\n", f"{F}:19:27",
         ("{grantRBAC: false}", "{}")),
    Case("flux-rollback-without-tests", FLUX.replace(", tests: [web-test]", ""), f"{F}:9:12",
         ("version: 1.0.0}", "version: 1.0.0, tests: [web-test]}")),
    Case("flux-rollback-field-ignored", FLUX + "  gates:\n    loadTest: {rps: 5}\n", f"{F}:15:5",
         ("  gates:\n    loadTest: {rps: 5}\n", "")),
    Case("flux-rollback-field-ignored", base("    threshold: 2\n", "    threshold: 2\n    retries: 1\n"),
         f"{F}:17:14", ("    retries: 1\n", "")),
    Case("rollback-time", FLUX + "    releaseTimeout: 3m\n", f"{F}:14:21", ("3m", "2m")),
]


def _ids(case: Case) -> str:
    return case.rule


def _write(tmp_path: os.PathLike[str], case: Case, body: str) -> tuple[str, str]:
    root = os.fspath(tmp_path)
    header = HEADER
    directory = case.directory
    if case.rule == "name-too-long":
        directory = "w" * 56
        header = header.replace("name: web", f"name: {directory}")
    folder = os.path.join(root, "services", directory)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "rollouts.yaml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header + body)
    if case.project:
        with open(os.path.join(root, "rollouts.project.yaml"), "w", encoding="utf-8") as fh:
            fh.write(case.project)
    return root, path


def _findings(root: str) -> list[tuple[str, str]]:
    result = lint(load_project(root))
    return [(f.rule, f.location) for f in result.findings]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_rule_finds_the_mistake_at_its_place(tmp_path, case):
    root, _ = _write(tmp_path, case, case.body)
    where = case.where.replace("{long}", "w" * 56)
    assert _findings(root) == [(case.rule, where)]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_rule_is_quiet_once_fixed(tmp_path, case):
    old, new = case.fix
    if case.rule == "name-too-long":
        body, fixed_case = case.body, case._replace(rule="fixed")
    elif case.rule == "service-directory-name":
        body, fixed_case = case.body, case._replace(directory="web")
    else:
        assert old in case.body, old
        body, fixed_case = case.body.replace(old, new), case
    root, _ = _write(tmp_path, fixed_case, body)
    assert _findings(root) == []


def test_every_rule_module_is_registered_and_tested():
    folder = os.path.dirname(all_rules()[0].__file__)
    modules = sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and f != "__init__.py")
    assert sorted(RULES) == modules
    from test_controller_rules import CONTROLLER_CASES  # the analysis controller's rules, tested there

    assert {m.ID for m in all_rules()} == {c.rule for c in CASES + CONTROLLER_CASES}


@pytest.mark.parametrize("module", all_rules(), ids=lambda m: m.ID)
def test_rule_module_shape(module):
    assert module.__name__.rsplit(".", 1)[-1].replace("_", "-") == module.ID
    assert module.SEVERITY.value in ("error", "warning")
    assert module.SUMMARY.endswith(".") and "\n" not in module.SUMMARY
    # the reason names where the pitfall comes from: an upstream issue or source file, a peer linter's check,
    # or says that the rule is about this project's own layout
    upstream = r"(fluxcd|linkerd|kubernetes-sigs)/|kube-score|Polaris|no upstream issue"
    assert re.search(upstream, module.REASON), module.REASON


def test_rules_report_per_environment_override_with_its_name(tmp_path):
    body = BASE + "  environments:\n    staging:\n      workload: {autoscaling: {minReplicas: 1}}\n    production: {}\n"
    root, _ = _write(tmp_path, CASES[0]._replace(rule="x"), body)
    findings = lint(load_project(root)).findings
    assert [(f.rule, f.location, f.message.split("]")[0]) for f in findings] == [
        ("min-replicas", f"{F}:21:45", "[staging")]


def test_findings_are_not_repeated_for_each_environment(tmp_path):
    root, _ = _write(tmp_path, CASES[0]._replace(rule="x"), base("threshold: 2", "threshold: 9"))
    assert [f.rule for f in lint(load_project(root)).findings] == ["rollback-time"]


def test_finding_of_one_environment_names_it_even_at_a_base_field(tmp_path):
    """Staging lowers the threshold; production keeps threshold 9 from the base spec and is the one that fails."""
    body = base("threshold: 2", "threshold: 9") + (
        "  environments:\n    staging: {strategy: {threshold: 2}}\n    production: {}\n")
    root, _ = _write(tmp_path, CASES[0]._replace(rule="x"), body)
    findings = lint(load_project(root)).findings
    assert [(f.rule, f.location) for f in findings] == [("rollback-time", f"{F}:16:16")]
    # 9 x 1m + the 10s scrape + one interval (no metric window: the spec has no metric)
    assert findings[0].message.startswith("[production] a failing release is rolled back up to 10m10s after")


def test_environments_with_different_values_get_one_finding_each(tmp_path):
    body = base("threshold: 2", "threshold: 9") + (
        "  environments:\n    staging: {strategy: {interval: 40s}}\n    production: {}\n")
    root, _ = _write(tmp_path, CASES[0]._replace(rule="x"), body)
    messages = sorted(f.message.split(" after its")[0] for f in lint(load_project(root)).findings)
    assert messages == ["[production] a failing release is rolled back up to 10m10s",
                        "[staging] a failing release is rolled back up to 6m50s"]  # 9 x 40s + 10s + 40s


@pytest.mark.parametrize(("project", "expected"), [
    pytest.param("", ["skip-analysis-in-production"], id="default-environments"),
    pytest.param("environments: [qa, staging]\n", [], id="project-without-production"),
])
def test_spec_without_environments_goes_to_the_project_environments(tmp_path, project, expected):
    body = base("threshold: 2", "threshold: 2\n    skipAnalysis: true")
    root, _ = _write(tmp_path, CASES[0]._replace(rule="x", project=project), body)
    assert [f.rule for f in lint(load_project(root)).findings] == expected


INGRESS = "  ingress:\n    hosts: [web.example]\n    gateway: {name: public, namespace: gw}\n    meshedGateway: true\n"


def _lint_body(tmp_path, body: str, project: str = "") -> list[tuple[str, str, str]]:
    root, _ = _write(tmp_path, CASES[0]._replace(rule="x", project=project), body)
    return [(f.rule, f.location, f.message) for f in lint(load_project(root)).findings]


def test_host_collision_in_an_override_points_there_and_names_the_environments(tmp_path):
    body = BASE + INGRESS + ("  environments:\n    qa: {ingress: {hosts: [qa.web.example]}}\n"
                             "    staging: {ingress: {hosts: [web.example]}}\n    production: {}\n")
    found = _lint_body(tmp_path, body, project="environments: [qa, staging, production]\n")
    assert sorted(found) == [
        ("ingress-host-collision", f"{F}:20:13", "[production] host web.example on Gateway gw/public is routed in "
         "staging and production; the oldest route wins, so users of one environment may reach the other"),
        ("ingress-host-collision", f"{F}:25:33", "[staging] host web.example on Gateway gw/public is routed in "
         "staging and production; the oldest route wins, so users of one environment may reach the other"),
    ]


@pytest.mark.parametrize(("gateway", "staging", "expected"), [
    pytest.param(", sectionName: https", "{gateway: {sectionName: internal}}", [], id="other-listener"),
    pytest.param(", sectionName: https", "{gateway: {name: staging}}", [], id="other-gateway"),
    pytest.param(", sectionName: https", "{}", ["ingress-host-collision"], id="same-listener"),
    pytest.param("", "{gateway: {sectionName: https}}", ["ingress-host-collision"], id="every-listener-and-one"),
])
def test_host_collision_needs_the_same_gateway_and_listener(tmp_path, gateway, staging, expected):
    """``gateway`` is added to the base spec's gateway, ``staging`` is staging's ingress override."""
    body = BASE + INGRESS.replace("namespace: gw}", f"namespace: gw{gateway}}}")
    body += f"  environments:\n    staging: {{ingress: {staging}}}\n    production: {{}}\n"
    assert [rule for rule, _, _ in _lint_body(tmp_path, body)] == expected


def test_helm_test_gate_is_no_problem_where_analysis_is_skipped(tmp_path):
    body = BASE + "    helmTest: {grantRBAC: false}\n" + (
        "  environments:\n    staging: {strategy: {skipAnalysis: true}}\n    production: {}\n")
    assert [(rule, where, message.split("]")[0]) for rule, where, message in _lint_body(tmp_path, body)] == [
        ("helm-test-without-rbac", f"{F}:19:27", "[production")]


def test_open_gate_without_any_approval_is_no_problem(tmp_path):
    assert _lint_body(tmp_path, BASE + "    manualApproval: {closeAfterRollout: false}\n") == []


@pytest.mark.parametrize(("metric", "expected"), [
    pytest.param("{name: lag, query: max(lag), max: 5, address: http://prometheus.linkerd-viz.svc:9090}",
                 ["metric-not-in-linkerd-viz"], id="viz-address-spelled-out"),
    pytest.param("{name: lag, query: 'sum(rate(response_total[1m])) + max(lag)', max: 5}",
                 ["metric-not-in-linkerd-viz"], id="one-of-two-names"),
    pytest.param("{name: rps, query: 'sum(rate(request_total{deployment=~\"{{ target }}\"}[1m]))', min: 1}", [],
                 id="proxy-metric-by-deployment"),
    pytest.param("{name: lag, query: 'max(lag', max: 5}", [], id="unreadable-query-left-to-promtool"),
])
def test_metric_names_on_the_mesh_prometheus(tmp_path, metric, expected):
    body = BASE + f"  metrics:\n    - {metric}\n"
    assert [rule for rule, _, _ in _lint_body(tmp_path, body)] == expected


def test_empty_numerator_message_says_ratio_or_query(tmp_path):
    ratio = 'sum(rate(response_total{classification=\\"failure\\"}[1m])) / sum(rate(response_total[1m]))'
    alone = 'sum(rate(response_total{classification=\\"failure\\"}[1m]))'
    body = BASE + f'  metrics:\n    - {{name: burn, query: "{ratio}", max: 1}}\n' \
                  f'    - {{name: fails, query: "{alone}", max: 1}}\n'
    root, _ = _write(tmp_path, CASES[0]._replace(rule="x"), body)
    found = lint(load_project(root)).findings
    assert [(f.location, f.message.split(",")[0], f.hint) for f in found] == [
        (f"{F}:20:27", "the numerator of metric 'burn' selects classification=\"failure\"",
         "Write (sum(...) or vector(0)) / sum(...) for the numerator, or 1 - sum(successes) / sum(total)."),
        (f"{F}:21:28", "metric 'fails' selects classification=\"failure\"",
         "Append `or vector(0)` so that no failures read 0."),
    ]


def test_override_only_ingress_must_be_complete_down_to_the_gateway(tmp_path):
    body = BASE + ("  environments:\n    staging:\n      ingress:\n        hosts: [staging.web.example]\n"
                   "        gateway: {name: public}\n    production: {}\n")
    assert _lint_body(tmp_path, body) == [
        ("environment-override-incomplete", f"{F}:22:9",
         "[staging] spec.ingress is set only for this environment and lacks 'meshedGateway'"),
        ("environment-override-incomplete", f"{F}:23:18",
         "[staging] spec.ingress.gateway is set only for this environment and lacks 'namespace'"),
    ]


def test_override_completing_a_base_section_is_fine(tmp_path):
    body = BASE + INGRESS + ("  environments:\n    staging: {ingress: {hosts: [staging.web.example]}}\n"
                             "    production: {}\n")
    assert _lint_body(tmp_path, body) == []


@pytest.mark.parametrize(("strategy", "message", "hint"), [
    pytest.param("stepWeight: 20\n    maxWeight: 50",
                 "stepWeight 20 takes the canary to 60%, past maxWeight 50%: its weights are 20, 40, 60, "
                 "then promotion",
                 "Use a stepWeight that divides maxWeight, e.g. stepWeight: 25 (2 steps) or stepWeight: 10 (5 steps),"
                 " or set maxWeight: 60.", id="last-step-past-max"),
    pytest.param("stepWeight: 60\n    maxWeight: 50",
                 "stepWeight 60 takes the canary to 60%, past maxWeight 50%: its weights are 60, then promotion",
                 "Use a stepWeight that divides maxWeight, e.g. stepWeight: 50 (1 step), or set maxWeight: 60.",
                 id="one-step-past-max"),
])
def test_max_weight_overshoot_names_the_weights_and_a_divisor(tmp_path, strategy, message, hint):
    root, _ = _write(tmp_path, CASES[0]._replace(rule="x"), base("steps: [10, 50]", strategy))
    found = lint(load_project(root)).findings
    assert [(f.rule, f.location, f.message, f.hint) for f in found] == [
        ("max-weight-overshoot", f"{F}:14:17", message, hint)]


@pytest.mark.parametrize("strategy", [
    pytest.param("stepWeight: 30", id="capped-at-the-default-100"),  # 30, 60, 90, 100: Flagger caps at 100
    pytest.param("stepWeight: 25\n    maxWeight: 100", id="divisor"),
    pytest.param("stepWeight: 100\n    maxWeight: 100", id="one-step"),
])
def test_step_weight_that_ends_on_max_weight_lints_clean(tmp_path, strategy):
    assert _lint_body(tmp_path, base("steps: [10, 50]", strategy)) == []


def test_max_weight_overshoot_in_one_environment_points_at_its_override(tmp_path):
    body = base("steps: [10, 50]", "stepWeight: 20") + (
        "  environments:\n    staging: {strategy: {maxWeight: 50}}\n    production: {}\n")
    assert [(rule, where, message.split("]")[0]) for rule, where, message in _lint_body(tmp_path, body)] == [
        ("max-weight-overshoot", f"{F}:14:17", "[staging")]

