"""Every object of a render of this repository's services, server-side applied on a real API server with every CRD
installed (CEL rules and all). A rejection is reported at the rollouts.yaml line that produced the field.

The namespaces are created; every other object is applied with ``--dry-run=server`` (all of admission, schema and
CEL validation, nothing stored), so the suites after this one find the cluster as they expect it."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from rollouts.validate.manifests import Document

from tests.e2e.cluster import Cluster
from tests.e2e.tree import Rendered, copy_project, render

# Namespaces a Flux installation creates before it applies the tree (flux bootstrap / flux install).
FLUX_NAMESPACES = ("flux-system",)

_FIELD = re.compile(r"(?<![\w.])\.?((?:metadata|spec|data|stringData|rules|subjects|roleRef)"
                    r"(?:\.[A-Za-z0-9_-]+|\[\d+\])*)(?=[:\s,]|$)")


def field_pointer(message: str) -> str:
    """The first field path the API server names (``spec.analysis.metrics[0].interval``) as a JSON pointer."""
    found = _FIELD.search(message)
    if not found:
        return ""
    return "/" + found.group(1).replace("[", ".").replace("]", "").replace(".", "/")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render(copy_project(tmp_path_factory.mktemp("apply") / "project"))


def _stream(objects: list[dict[str, Any]]) -> str:
    return str(yaml.safe_dump_all(objects, sort_keys=False))


def refusals(cluster: Cluster, rendered: Rendered, items: list[tuple[Path, Document, dict[str, Any]]],
             *extra: str) -> list[str]:
    """Each object applied alone; a refusal as ``file:line:col: Kind ns/name: message``, placed in rollouts.yaml."""
    problems = []
    for path, doc, obj in items:
        one = cluster.kubectl("apply", "--server-side", "--field-manager=rollouts-render", "-f", "-", *extra,
                              input=_stream([obj]), timeout=60)
        if one.returncode != 0:
            message = one.stderr.strip().splitlines()[-1] if one.stderr.strip() else "refused"
            finding = rendered.where(path, doc, field_pointer(one.stderr), message)
            problems.append(f"{finding.location}: {finding.resource}: {finding.message}")
    return problems


def test_every_rendered_object_is_accepted(cluster: Cluster, crds: list[Path], rendered: Rendered) -> None:
    objects = list(rendered.objects())
    assert len(objects) > 50, f"the render has only {len(objects)} objects"
    namespaces = [obj for _, _, obj in objects if obj["kind"] == "Namespace"]
    for name in FLUX_NAMESPACES:
        cluster.apply(_stream([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}]))
    cluster.apply(_stream(namespaces))
    rest = [(path, doc, obj) for path, doc, obj in objects if obj["kind"] != "Namespace"]
    whole = cluster.kubectl("apply", "--server-side", "--field-manager=rollouts-render", "--dry-run=server", "-f",
                            "-", input=_stream([obj for _, _, obj in rest]), timeout=300)
    if whole.returncode == 0:
        return
    problems = refusals(cluster, rendered, rest, "--dry-run=server")  # which ones, at the spec line
    assert not problems, "the API server refused rendered objects:\n" + "\n".join(problems)
    pytest.fail(f"kubectl apply of the whole render failed, though each object alone was accepted:\n"
                f"{whole.stderr}")


def test_a_refusal_names_the_spec_line(cluster: Cluster, crds: list[Path], rendered: Rendered) -> None:
    """The mapping itself: a Canary whose threshold the CRD refuses is reported at strategy.threshold."""
    canary = next((path, doc, obj) for path, doc, obj in rendered.objects("apps/production/checkout")
                  if obj["kind"] == "Canary")
    path, doc, obj = canary
    broken = copy.deepcopy(obj)
    broken["spec"]["analysis"]["threshold"] = "three"
    problems = refusals(cluster, rendered, [(path, doc, broken)], "--dry-run=server")
    spec = (rendered.root / "services/checkout/rollouts.yaml").read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(spec, 1) if text.strip().startswith("threshold:"))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"services/checkout/rollouts.yaml:{line}:"), problems
    assert "spec.analysis.threshold" in problems[0], problems


def test_field_pointer_reads_api_server_paths() -> None:
    message = ('The Canary "checkout" is invalid: spec.analysis.metrics[0].interval: Invalid value: "1x": '
               'spec.analysis.metrics[0].interval in body should match')
    assert field_pointer(message) == "/spec/analysis/metrics/0/interval"
    ssa = ("failed to create typed patch object (shop/checkout; flagger.app/v1beta1, Kind=Canary): "
           ".spec.analysis.threshold: expected numeric (int or float), got string")
    assert field_pointer(ssa) == "/spec/analysis/threshold"
    assert field_pointer("no field named here") == ""
