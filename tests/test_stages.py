"""The stages as `rollouts check` composes them: the fresh render is what is validated, the committed tree's drift
is reported apart (issue 13, major defect 3)."""

from __future__ import annotations

import shutil
from pathlib import Path

from rollouts.findings import Severity
from rollouts.project import load_project
from rollouts.stages import STAGES, lint_and_render, render_inputs, rendered_origins
from rollouts.validate.check import check

from tests.validate.rendered import render_examples
from tests.validate.test_examples import SKIP

CANARY = "flux/apps/production/checkout/canary.yaml"
SPEC = "services/checkout/rollouts.yaml"


def run_check(root: str, catalog: Path) -> list[tuple[str, str, int, str]]:
    result = check(load_project(root), schema_dir=str(catalog), skip_kinds=SKIP, promql=False, kustomize=False,
                   engine="python")
    assert [s.name for s in result.stages] == ["lint", "render", "validate"]
    return [(f.rule, f.file, f.line, f.message) for f in result.findings if f.severity is Severity.ERROR]


def threshold_line(root: Path) -> int:
    lines = (root / SPEC).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().startswith("threshold:"))


def test_a_spec_fixed_but_not_rendered_is_drift_not_a_finding_on_the_fixed_line(tmp_path: Path,
                                                                                catalog: Path) -> None:
    """The committed canary.yaml carries a bad threshold the old spec made; the spec is fixed, flux/ is not
    rendered again. check blames the stale file and says so, not the spec line that is now right."""
    project, _ = render_examples(tmp_path)
    canary = tmp_path / CANARY
    canary.write_text(canary.read_text().replace("\n    threshold: 2\n", '\n    threshold: "2"\n', 1))  # as rendered
    spec = tmp_path / SPEC
    spec.write_text(spec.read_text().replace("threshold: 2", "threshold: 1", 1))  # the fix, not rendered yet
    errors = run_check(project.root, catalog)
    fixed = threshold_line(tmp_path)
    assert not [e for e in errors if e[1] == SPEC and e[2] == fixed], errors
    assert ("render-drift", CANARY, 0, f"{CANARY} differs from what the specs render") in errors
    stale = [e for e in errors if e[0] == "schema-violation"]
    assert len(stale) == 1 and stale[0][1] == CANARY and "the committed file, which is stale" in stale[0][3]


def test_a_fresh_render_with_a_problem_is_blamed_on_the_spec_even_when_flux_is_stale(tmp_path: Path,
                                                                                    catalog: Path) -> None:
    """The reverse: the committed tree is fine, the spec edit (not rendered yet) breaks the render's output; the
    finding is on the spec line, found in the fresh render, named under flux/ and not under a temporary path."""
    project, _ = render_examples(tmp_path)
    spec = tmp_path / SPEC
    text = spec.read_text()
    assert "threshold: 2" in text
    spec.write_text(text.replace("threshold: 2", 'threshold: 2  # rollouts: ignore', 1))  # no change of objects
    # but of the spec's bytes, whose digest each environment's analysis controller config records
    digests = [("render-drift", f"flux/apps/{env}/analysis-controller/config.yaml", 0)
               for env in ("production", "staging")]
    errors = run_check(project.root, catalog)
    assert sorted(e[:3] for e in errors) == digests
    canary = tmp_path / CANARY
    canary.unlink()  # drift: the committed tree misses a file the render makes
    errors = run_check(project.root, catalog)
    assert sorted(e[:3] for e in errors) == sorted([("render-drift", CANARY, 0), *digests])
    assert not any("rollouts-check-" in e[1] + e[3] for e in errors)


def test_check_with_no_tree_still_validates_the_render(tmp_path: Path, catalog: Path) -> None:
    project, _ = render_examples(tmp_path)
    shutil.rmtree(tmp_path / "flux")
    errors = run_check(project.root, catalog)
    assert [e[:2] for e in errors] == [("render-drift", "flux")]


def test_lint_and_render_split_the_findings_by_stage(tmp_path: Path) -> None:
    project, _ = render_examples(tmp_path)
    spec = tmp_path / SPEC
    spec.write_text(spec.read_text().replace("threshold: 2", "threshold: 0", 1))
    rendered = lint_and_render(project)
    assert not rendered.lint.ok and rendered.lint.findings
    assert all(not f.rule.startswith("render-") for f in rendered.lint.findings)
    assert rendered.render.ran is False and rendered.result.files == {}
    assert rendered_origins(project) == {}
    assert [s.name for s in rendered.stages] == list(STAGES[:2])


def test_rendered_origins_map_fields_to_spec_lines(tmp_path: Path) -> None:
    project, result = render_examples(tmp_path)
    origins = rendered_origins(project)
    assert origins["Canary/shop/checkout"]["/spec/analysis/threshold"] == (SPEC, threshold_line(tmp_path),
                                                                           result.origins["Canary/shop/checkout"]
                                                                           ["/spec/analysis/threshold"][2])


def test_render_inputs_are_the_specs_and_the_project_file(tmp_path: Path) -> None:
    assert render_inputs(load_project(str(tmp_path))) == ["services", "rollouts.project.yaml"]
