"""Security: no value in a spec can add, remove or rename a key, a document or a resource.

Every free-text string field of a valid spec (those the schema leaves without a pattern or enum) gets an
arbitrary string; the rendered tree must have exactly the documents, kinds and keys it has with plain values, and
every value must come back unchanged. The spec is built in code and rendered without lint, so values that lint
would flag still reach the templates.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rollouts.project import Project
from rollouts.render import render
from rollouts.render.builders.gates import substitute_canary_url
from rollouts.spec.load import Spec

N = 18
P = [f"zqp{i:02d}zq" for i in range(N)]  # placeholders: what a plain value looks like
RESERVED_KEYS = {"fullnameOverride", "image", "replicaCount", "nested"}
EXACT_VERSION = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]*)?")


def base_spec(v: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rollouts/v1alpha1", "kind": "ServiceRollout",
        "metadata": {"name": "svc", "namespace": "ns", "owner": "team"},
        "spec": {
            "workload": {
                "chart": {"repository": "oci://registry.example/charts/web", "version": v[0]},
                "image": {"repository": v[1], "tag": v[2]},
                "values": {v[3]: v[4], "nested": {v[5]: [v[6], 1, True, None]}},
                "port": 8080, "autoscaling": {"maxReplicas": 4},
            },
            "strategy": {
                "type": "abTest", "iterations": 3,
                "match": [{"headers": {"x-h": {"exact": v[7]}}}, {"queryParams": {v[8]: {"regex": v[9]}}},
                          {"cookie": {"name": "c", "value": "v"}}],
                "sessionAffinity": {"cookieName": v[10]},
            },
            "slo": {"successRate": 99, "latencyP99": "500ms"},
            "metrics": [{"name": "m", "query": v[11], "max": 1, "variables": {v[12]: v[13]}}],
            "gates": {"acceptanceTest": {"cmd": v[14]},
                      "manualApproval": {"beforeRollout": True, "runbook": v[15]}, "loadTest": {}},
            "alerts": [{"name": "a", "type": "slack", "channel": v[16], "secretRef": "s"}],
            "ingress": {"hosts": ["h.example"], "gateway": {"name": "g", "namespace": "gw", "sectionName": v[17]},
                        "meshedGateway": True},
            "environments": {"production": {}},
        },
    }


def rendered_docs(tmp: Path, values: list[str]) -> dict[str, list[Any]]:
    spec = Spec("services/svc/rollouts.yaml", "", copy.deepcopy(base_spec(values)))  # type: ignore[arg-type]
    result = render(Project(str(tmp)), specs=[spec], environments=["production"], services=["svc"])
    assert result.ok, result.findings
    return {path: list(yaml.load_all(text, Loader=yaml.CSafeLoader)) for path, text in result.files.items()
            if path.endswith(".yaml")}


def same_shape(plain: Any, got: Any, subst: dict[str, str], where: str) -> None:
    if isinstance(plain, dict):
        assert isinstance(got, dict), where
        expected_keys = {_replace(k, subst): k for k in plain}
        assert set(got) == set(expected_keys), where
        for key, original in expected_keys.items():
            same_shape(plain[original], got[key], subst, f"{where}/{key}")
    elif isinstance(plain, list):
        assert isinstance(got, list) and len(got) == len(plain), where
        for i, (a, b) in enumerate(zip(plain, got, strict=True)):
            same_shape(a, b, subst, f"{where}/{i}")
    elif isinstance(plain, str):
        assert got == _replace(plain, subst), where
    else:
        assert type(got) is type(plain) and got == plain, where


def _replace(text: str, subst: dict[str, str]) -> str:
    for placeholder, value in subst.items():
        text = text.replace(placeholder, value)
    return text


TRICKY = ["a: b", "---", "--- \n- x", "{{ target }}", "{% if x %}", "'", '"', "#", " # c", "\n", "\r\n", "\t",
          "é", "😀", "\u2028", "\x85", "\ufeff", "\x00", "\\", "&a", "*a", "!!str", "? k", "|", ">-", "[", "{",
          "}", "]", ",", "%TAG", "@", "`", "yes", "null", "~", "1e3", "0o7", "2024-01-01", "...", "<<"]

free_text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40),
    st.lists(st.sampled_from(TRICKY), min_size=1, max_size=6).map("".join),
).filter(lambda s: "zqp" not in s and "CANARY_URL" not in s and s not in RESERVED_KEYS
         and not EXACT_VERSION.fullmatch(s))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(free_text, min_size=N, max_size=N, unique=True))
def test_arbitrary_strings_change_no_structure_and_come_back_unchanged(tmp_path: Path, values: list[str]) -> None:
    plain = rendered_docs(tmp_path, P)
    got = rendered_docs(tmp_path, values)
    assert set(got) == set(plain)
    subst = dict(zip(P, values, strict=True))
    for path in plain:
        assert len(got[path]) == len(plain[path]), path
        for i, (a, b) in enumerate(zip(plain[path], got[path], strict=True)):
            assert (b["apiVersion"], b["kind"]) == (a["apiVersion"], a["kind"]), path
            same_shape(a, b, subst, f"{path}#{i}")


def test_the_placeholders_reach_every_kind_of_output(tmp_path: Path) -> None:
    """The property above is only as strong as the fields it reaches: each placeholder is rendered somewhere."""
    text = "\n".join(str(d) for docs in rendered_docs(tmp_path, P).values() for d in docs)
    missing = [p for p in P if p not in text]
    assert missing == []
    assert substitute_canary_url("CANARY_URL/x", "http://c") == "http://c/x"
