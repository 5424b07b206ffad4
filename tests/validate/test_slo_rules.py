"""The SLO rules as rendered (one PrometheusRule per service and environment, render/builders/slo.py): promtool
accepts every rule file, the objects are valid against prometheus-operator's CRD, and `promtool test rules` on
synthetic Linkerd series shows the multiwindow burn-rate alerts firing and resolving when the workbook says.

The series are per minute (Linkerd's ``response_total`` of the primary pods, inbound, and its latency histogram),
for checkout in production: availability objective 99.9% over 30d (``policy.errorBudget``: budget 0.001), p99
latency 500ms (99% of requests at most 500ms: budget 0.01)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
import yaml
from rollouts.catalog import SHIPPED_DIR
from rollouts.catalog.crd import ecma_pattern, load_crd_files

from tests.validate.rendered import render_examples

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE, DEPLOYMENT = "shop", "checkout-primary"
ENVIRONMENTS, SERVICES = ("production", "staging"), ("billing-worker", "checkout", "frontend", "inventory")


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """"<env>/<service>" -> the rendered PrometheusRule."""
    tmp = tmp_path_factory.mktemp("render")
    render_examples(tmp)
    out = {}
    for path in sorted((tmp / "flux" / "apps").glob("*/*/slo-rules.yaml")):
        (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
        out[f"{path.parent.parent.name}/{path.parent.name}"] = doc
        assert "slo-rules.yaml" in yaml.safe_load((path.parent / "kustomization.yaml").read_text())["resources"]
    return out


def _rule_file(tmp_path: Path, rule: dict[str, Any]) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    return path


def test_every_service_and_environment_has_its_rules(rules: dict[str, dict[str, Any]]) -> None:
    assert sorted(rules) == sorted(f"{e}/{s}" for e in ENVIRONMENTS for s in SERVICES)
    slos = {key: [g["name"].rsplit("-", 2)[-2:] for g in r["spec"]["groups"]] for key, r in rules.items()}
    assert slos["production/checkout"] == [["production", "availability"], ["latency", "p99"]]
    assert slos["staging/frontend"] == [["staging", "availability"], ["latency", "p95"]]
    for key, rule in rules.items():
        env, service = key.split("/")
        for group in rule["spec"]["groups"]:
            records = [r["record"] for r in group["rules"] if "record" in r]
            assert records == [f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")]
            alerts = [r for r in group["rules"] if "alert" in r]
            assert [a["labels"]["severity"] for a in alerts] == ["page", "ticket"]
            for alert in alerts:
                assert {k: alert["labels"][k] for k in ("service", "environment")} == {"service": service,
                                                                                      "environment": env}
                assert sorted(alert["annotations"]) == ["description", "runbook_url", "summary"]
                assert alert["annotations"]["runbook_url"] == f"flux/apps/{env}/{service}/RUNBOOK.md"


def test_the_workbook_burn_rates(rules: dict[str, dict[str, Any]]) -> None:
    """14.4x over 1h and 5m, 6x over 6h and 30m (page); 3x over 1d and 2h, 1x over 3d and 6h (ticket), of the
    budget 1 - objective: 0.001 for checkout's 99.9% error budget, 0.005 for frontend's 99.5%, 0.01 for a p99."""
    checkout = rules["production/checkout"]["spec"]["groups"]
    page, ticket = (r["expr"] for r in checkout[0]["rules"] if "alert" in r)
    sel = '{slo="availability", service="checkout", environment="production", namespace="shop"}'
    assert page == (f"(slo:sli_error:ratio_rate1h{sel} > (14.4 * 0.001) and slo:sli_error:ratio_rate5m{sel} > "
                    f"(14.4 * 0.001)) or (slo:sli_error:ratio_rate6h{sel} > (6 * 0.001) and "
                    f"slo:sli_error:ratio_rate30m{sel} > (6 * 0.001))")
    assert "ratio_rate1d" in ticket and "> (3 * 0.001)" in ticket and "> (1 * 0.001)" in ticket
    frontend = rules["production/frontend"]["spec"]["groups"][0]["rules"]
    assert "(14.4 * 0.005)" in next(r["expr"] for r in frontend if "alert" in r)
    latency = next(r["expr"] for r in checkout[1]["rules"] if "alert" in r)
    assert "(14.4 * 0.01)" in latency and "(6 * 0.01)" in latency


def test_promtool_checks_every_rendered_rule_file(rules: dict[str, dict[str, Any]], tmp_path: Path,
                                                  tool: Callable[[str], str]) -> None:
    promtool = tool("promtool")
    for key, rule in rules.items():
        path = _rule_file(tmp_path, rule)
        proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60,
                              check=False)
        assert proc.returncode == 0, f"{key}: {proc.stdout}{proc.stderr}"
        assert "SUCCESS" in proc.stdout, proc.stdout


def test_the_rules_are_valid_against_the_crd(rules: dict[str, dict[str, Any]], shared: Path) -> None:
    """Every rendered PrometheusRule against the schema converted from prometheus-operator's CRD (v0.93.0, in
    ../shared/crds), strict as `rollouts validate` is; a rule the CRD refuses is refused."""
    schemas, _, findings = load_crd_files([str(shared / "crds" / "prometheus-operator" /
                                               "monitoring.coreos.com_prometheusrules.yaml")])
    assert findings == []
    schema = schemas["monitoring.coreos.com/prometheusrule_v1.json"]
    validator = jsonschema.Draft7Validator(schema)
    for key, rule in rules.items():
        errors = [e.message for e in validator.iter_errors(rule)]
        assert errors == [], key
    bad = copy.deepcopy(rules["production/checkout"])
    bad["spec"]["groups"][0]["rules"][7]["for"] = "5 minutes"
    assert any("5 minutes" in e.message for e in validator.iter_errors(bad))
    bad = copy.deepcopy(rules["production/checkout"])
    bad["spec"]["groups"][0]["rules"][0]["labels"]["slo"] = 1
    assert list(validator.iter_errors(bad))


def test_the_in_process_engine_reads_the_shipped_schema(rules: dict[str, dict[str, Any]]) -> None:
    """`rollouts validate --engine python` (jsonschema-rs, draft-07: ECMA 262 patterns) compiles the shipped
    PrometheusRule schema: the CRD's RE2 ``(?i)`` flag (``partial_response_strategy``) is spelled out in both cases,
    and still matches what the API server accepts."""
    schema = json.loads((Path(SHIPPED_DIR) / "monitoring.coreos.com" / "prometheusrule_v1.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    for key, rule in rules.items():
        assert validator.is_valid(rule), key
    group = rules["production/checkout"]["spec"]["groups"][0]
    for value, ok in (("abort", True), ("WARN", True), ("Abort", True), ("", True), ("panic", False)):
        bad = copy.deepcopy(rules["production/checkout"])
        bad["spec"]["groups"] = [{**group, "partial_response_strategy": value}]
        assert validator.is_valid(bad) is ok, value
    assert ecma_pattern("^(?i)(abort|warn)?$") == "^([aA][bB][oO][rR][tT]|[wW][aA][rR][nN])?$"
    assert ecma_pattern("^(?i)[a-c\\d]x\\.$") == "^[a-cA-C\\d][xX]\\.$"
    assert ecma_pattern("^[a-z]+$") == "^[a-z]+$"


def test_validate_reports_a_rule_that_does_not_parse_at_the_spec_line(tmp_path: Path,
                                                                        tool: Callable[[str], str]) -> None:
    """`rollouts validate` checks every PrometheusRule expression with promtool, and maps an error back to the
    spec field of that SLO's objective (checkout: policy.errorBudget, line 63)."""
    tool("promtool")
    for name in ("flux", "services"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "rollouts.project.yaml", tmp_path)
    path = tmp_path / "flux" / "apps" / "production" / "checkout" / "slo-rules.yaml"
    text = path.read_text()
    assert "> (14.4 * 0.001)" in text
    path.write_text(text.replace("> (14.4 * 0.001)", "> (14.4 * 0.001", 1))
    proc = subprocess.run([str(Path(sys.executable).parent / "rollouts"), "validate", "--no-kustomize", "-f", "json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = [f for f in json.loads(proc.stdout) if f["rule"] == "promql-syntax"]
    assert [(f["file"], f["line"]) for f in found] == [("services/checkout/rollouts.yaml", 63)], found
    assert "unclosed left parenthesis" in found[0]["message"]
    assert "PrometheusRule shop/checkout-slo" in found[0]["message"]


# --- promtool test rules ---------------------------------------------------------------------------------------------

def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    base = {"namespace": NAMESPACE, "deployment": DEPLOYMENT, "direction": "inbound", **labels}
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(base.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def _requests(ok: str, failed: str | None) -> list[dict[str, str]]:
    """Linkerd has no failure series before the first failure: ``failed=None`` leaves it out. Outbound requests
    and another namespace's failures are noise the rules must ignore."""
    series = [_series("response_total", ok, classification="success")]
    if failed is not None:
        series.append(_series("response_total", failed, classification="failure"))
    series.append(_series("response_total", "0+500x900", classification="failure", direction="outbound"))
    series.append(_series("response_total", "0+500x900", classification="failure", namespace="shop-staging"))
    return series


def _alerts(group: dict[str, Any], *severities: str) -> list[dict[str, Any]]:
    """The expected firing alerts of ``group``: its own labels and annotations, for those severities."""
    return [{"exp_labels": r["labels"], "exp_annotations": r["annotations"]} for r in group["rules"]
            if "alert" in r and r["labels"]["severity"] in severities]


def _at(group: dict[str, Any], minutes: int, *severities: str) -> dict[str, Any]:
    """At ``minutes``, the ErrorBudgetBurn alerts firing are exactly those of ``group`` with ``severities`` (none
    of any other group: every SLO's alerts share the name)."""
    return {"eval_time": f"{minutes}m", "alertname": "ErrorBudgetBurn", "exp_alerts": _alerts(group, *severities)}


def _run(promtool: str, tmp_path: Path, rule: dict[str, Any], tests: list[dict[str, Any]]) -> None:
    rules_path = _rule_file(tmp_path, rule)
    path = tmp_path / "slo_test.yml"
    path.write_text(json.dumps({"rule_files": [rules_path.name], "evaluation_interval": "1m", "tests": tests},
                               indent=1))
    proc = subprocess.run([promtool, "test", "rules", path.name], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_a_fast_burn_pages_and_the_page_resolves_when_the_errors_stop(rules: dict[str, dict[str, Any]],
                                                                      tmp_path: Path,
                                                                      tool: Callable[[str], str]) -> None:
    """1000 good requests a minute; from minute 420 (7h of healthy history) to 440, 100 failures a minute (9% of
    the requests: 91x the budget rate). At 422 the 1h window holds too few of them (0.3% < 1.44%): nothing; at 430
    (1.6%) the page fires, and so does the ticket: a fast burn also spends 10% of the budget in 3 days (Alertmanager
    inhibits the ticket while the page fires, docs/render.md); five minutes after the errors stop the 5m window is
    clean and the page resolves (the 6h window never reached 6x: 0.55%), the ticket goes on while the 6h window
    holds the errors, and once it has passed nothing fires."""
    promtool = tool("promtool")
    rule = rules["production/checkout"]
    availability = rule["spec"]["groups"][0]
    series = _requests("0+1000x900", "0+0x420 100+100x19 2000+0x460")
    _run(promtool, tmp_path, rule, [{
        "interval": "1m", "input_series": series,
        "alert_rule_test": [_at(availability, 419), _at(availability, 422), _at(availability, 430, "page", "ticket"),
                            _at(availability, 439, "page", "ticket"), _at(availability, 450, "ticket"),
                            _at(availability, 790, "ticket"), _at(availability, 810)],
        "promql_expr_test": [
            {"expr": 'round(slo:sli_error:ratio_rate5m{service="checkout", environment="production", '
                     'slo="availability"} * 1000)', "eval_time": "435m",
             "exp_samples": [{"labels": '{environment="production", namespace="shop", service="checkout", '
                                        'slo="availability"}', "value": 91}]}],
    }])


def test_a_slow_burn_opens_a_ticket_only(rules: dict[str, dict[str, Any]], tmp_path: Path,
                                         tool: Callable[[str], str]) -> None:
    """0.4% of the requests fail (4x the budget rate): under 6x and 14.4x, no page; over 3x on 1d and 2h: a ticket
    (on the 3d and 6h pair too, over 1x)."""
    promtool = tool("promtool")
    rule = rules["production/checkout"]
    availability = rule["spec"]["groups"][0]
    _run(promtool, tmp_path, rule, [{
        "interval": "1m", "input_series": _requests("0+996x900", "0+4x900"),
        "alert_rule_test": [_at(availability, 60, "ticket"), _at(availability, 400, "ticket"),
                            _at(availability, 800, "ticket")],
    }])


def test_a_healthy_service_fires_nothing(rules: dict[str, dict[str, Any]], tmp_path: Path,
                                         tool: Callable[[str], str]) -> None:
    """0.05% failures (half the budget rate), and a service with no failure series at all: no alert, and an error
    ratio of 0 recorded, not no data, while there is traffic."""
    promtool = tool("promtool")
    rule = rules["production/checkout"]
    availability = rule["spec"]["groups"][0]
    labels = ('slo:sli_error:ratio_rate5m{environment="production", namespace="shop", service="checkout", '
              'slo="availability"}')
    record = 'slo:sli_error:ratio_rate5m{slo="availability", service="checkout", environment="production"}'
    _run(promtool, tmp_path, rule, [
        {"interval": "1m", "input_series": _requests("0+1999x900", "0+1x900"),
         "alert_rule_test": [_at(availability, m) for m in (10, 200, 800)]},
        {"interval": "1m", "input_series": _requests("0+1000x900", None),
         "alert_rule_test": [_at(availability, m) for m in (10, 800)],
         "promql_expr_test": [{"expr": record, "eval_time": "30m", "exp_samples": [{"labels": labels,
                                                                                    "value": 0}]}]},
    ])


def test_a_slow_p99_pages_on_the_latency_slo(rules: dict[str, dict[str, Any]], tmp_path: Path,
                                             tool: Callable[[str], str]) -> None:
    """checkout's p99 SLO is 500ms: 20% of the requests slower (20x the 1% budget) page on latency-p99 and open its
    ticket, not availability's (no failures). The bucket bound is written ``le="500.0"``, as Prometheus 3 ingests
    it; ``le="500"`` (Prometheus 2 from the text format) matches as well. Under 1% slower: nothing."""
    promtool = tool("promtool")
    rule = rules["production/checkout"]
    latency = rule["spec"]["groups"][1]

    def histogram(fast: str, le: str) -> list[dict[str, str]]:
        return [_series("response_latency_ms_bucket", fast, le=le),
                _series("response_latency_ms_bucket", "0+1000x900", le="+Inf"),
                _series("response_latency_ms_count", "0+1000x900"),
                _series("response_latency_ms_bucket", "0+0x900", le="500.0", namespace="shop-staging"),
                _series("response_latency_ms_count", "0+1000x900", namespace="shop-staging")]

    _run(promtool, tmp_path, rule, [
        {"interval": "1m", "input_series": [*histogram("0+800x900", "500.0"), *_requests("0+1000x900", None)],
         "alert_rule_test": [_at(latency, 70, "page", "ticket")]},
        {"interval": "1m", "input_series": histogram("0+800x900", "500"),
         "alert_rule_test": [_at(latency, 70, "page", "ticket")]},
        {"interval": "1m", "input_series": histogram("0+995x900", "500.0"),
         "alert_rule_test": [_at(latency, 70), _at(latency, 800)]},
    ])
