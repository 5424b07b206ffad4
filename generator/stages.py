"""The stages of a release, as every command runs them: lint, render, validate, sign, verify, commit.

A stage is a function that returns a :class:`StageResult` (its name, its findings, a one-line detail) beside what it
made: :class:`Rendered` (the render in memory), :class:`Signed` (the bundle and who signed it). The commands compose
them in this order and stop at the first stage that fails; none wires a stage of its own::

    rollouts check     lint_and_render -> render --check of flux/ -> validate the fresh render   (validate/check.py)
    rollouts commit    lint_and_render -> per attempt: write onto the branch's flux/ -> validate
                       -> sign_and_verify -> commit                                             (commit.py)
    rollouts pipeline  commit -> verify the pushed commit, one Step per stage                    (pipeline.py)

The validate stage lives beside the validator (``validate.check.validate_stage``), so that this module never imports
``rollouts.validate`` (which imports it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import RolloutsError
from .findings import Finding, Severity
from .keys import load_private_key
from .project import Project
from .render import RenderOptions, RenderResult, options_from_project, render, write_tree
from .render.engine import templates_dir
from .render.origins import Position
from .sign import sign_tree
from .verify import Policy, bundle_signer, verify_tree

STAGES = ("lint", "render", "validate", "sign", "verify", "commit")  # in the order they run
PROJECT_FILE = "rollouts.project.yaml"
TREE = "flux"


@dataclass
class StageResult:
    """What one stage did: ``ran`` False when it was skipped (``detail`` says why)."""

    name: str
    findings: list[Finding] = field(default_factory=list)
    detail: str = ""
    ran: bool = True

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def skipped(name: str, why: str) -> StageResult:
    return StageResult(name, detail=why, ran=False)


def record(stages: list[StageResult], stage: StageResult) -> bool:
    """Put ``stage`` in ``stages`` (replacing an earlier run of the same stage: a commit retried from a new tip
    validates, signs and verifies again); whether it passed."""
    stages[:] = [s for s in stages if s.name != stage.name] + [stage]
    stages.sort(key=lambda s: STAGES.index(s.name) if s.name in STAGES else len(STAGES))
    return stage.ok


def findings_of(stages: Iterable[StageResult]) -> list[Finding]:
    return [f for s in stages for f in s.findings]


# --- lint and render ------------------------------------------------------------------------------------------------

@dataclass
class Rendered:
    """The lint and render stages, and the render in memory (no files when lint found errors)."""

    project: Project
    result: RenderResult
    options: RenderOptions
    lint: StageResult
    render: StageResult

    @property
    def ok(self) -> bool:
        return self.lint.ok and self.render.ok

    @property
    def stages(self) -> list[StageResult]:
        return [self.lint, self.render]


def lint_and_render(project: Project, *, services: list[str] | None = None,
                    options: RenderOptions | None = None) -> Rendered:
    """Lint every spec and render it, in one pass: render() lints each spec as it loads it (in worker processes
    for a large project). The lint stage holds the findings about the specs and the project file, the render stage
    the renderer's own (``render-*``)."""
    options = options or options_from_project(project)
    result = render(project, services=services, options=options)
    linted = [f for f in result.findings if not f.rule.startswith("render-")]
    lint = StageResult("lint", linted, f"{_count(len(_service_names(result)), 'spec')} (services/*/rollouts.yaml)")
    if not lint.ok:
        return Rendered(project, result, options, lint, skipped("render", "lint found errors"))
    made = StageResult("render", [f for f in result.findings if f.rule.startswith("render-")],
                       f"{_count(len(result.files), 'file')} for {', '.join(project.environments)}")
    return Rendered(project, result, options, lint, made)


def _service_names(result: RenderResult) -> set[str]:
    return {key.split("/", 1)[1] for key in result.services}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def rendered_origins(project: Project) -> Mapping[str, Mapping[str, Position]]:
    """Which spec line produced each field of each rendered object (``RenderResult.origins``), by a render in
    memory; empty when the specs do not render (findings then stay on the rendered files). For ``rollouts
    validate``, which is handed a tree and asks only when there are findings to map."""
    try:
        result = render(project)
    except RolloutsError:
        return {}
    return result.origins if result.ok else {}


def render_inputs(project: Project) -> list[str]:
    """What a render reads, relative to the project root: the specs, the project file, and the templates when they
    are part of this repository (the product's own repository)."""
    inputs = ["services", PROJECT_FILE]
    templates = os.path.realpath(templates_dir())
    root = os.path.realpath(project.root)
    if os.path.commonpath([templates, root]) == root:
        inputs.append(os.path.relpath(templates, root))
    return inputs


def write_onto(project: Project, result: RenderResult, base: str | None, work: str) -> str:
    """The tree ``result`` makes out of ``base`` (a copy of it, or nothing) as ``work/flux``; returns its path. The
    base is not touched: this is what ``rollouts render`` would leave there."""
    tree = os.path.join(work, TREE)
    if base is not None and os.path.isdir(base):
        shutil.copytree(base, tree, symlinks=True)
    write_tree(Project(work, project.environments), result, TREE)
    return tree


def shown_as(findings: Iterable[Finding], tree: str, shown: str) -> list[Finding]:
    """Findings on files of ``tree`` (a temporary copy) named as the user knows the tree: ``shown``."""
    tree = os.path.abspath(tree)
    out = []
    for f in findings:
        file = f.file
        if file == tree or file.startswith(tree + os.sep):
            file = shown + file[len(tree):].replace(os.sep, "/")
        out.append(f._replace(file=file, message=f.message.replace(tree, shown)))
    return out


# --- sign and verify ------------------------------------------------------------------------------------------------

@dataclass
class Signed:
    """The sign and verify stages, the bundle, and who signed it (``key <id>`` or ``keyless <identity>``)."""

    sign: StageResult
    verify: StageResult
    bundle: str = ""
    signer: str = ""

    @property
    def ok(self) -> bool:
        return self.sign.ok and self.verify.ok


def sign_and_verify(tree: str, root: str, *, source: str, key_path: str | None = None, private_key: Any = None,
                    identity_token: str | None = None, trust_config: str | None = None) -> Signed:
    """Sign every file of ``tree`` (names relative to ``root``; the specs and source commit of ``source``), then
    verify the bundle as a consumer would: against the public half of the key, or the identity keyless signing
    certified."""
    made = sign_tree(tree, root, key_path=key_path, identity_token=identity_token, trust_config=trust_config,
                     source=source, private_key=private_key)
    if made.mode == "key":
        if private_key is None:
            assert key_path is not None
            private_key = load_private_key(key_path)
        policy = Policy(public_key=private_key.public_key())
        signer = f"key {made.identity}"
    else:
        identity, issuer = bundle_signer(made.bundle_path)  # re-check our own bundle: chain, signature, digests
        policy = Policy(identity=identity, issuer=issuer, issuer_regexp=".*" if issuer is None else None)
        signer = f"keyless {identity}"
    bundle = os.path.basename(made.bundle_path)
    checked = verify_tree(tree, policy, root)
    verified = StageResult("verify", list(checked.findings), f"{_count(checked.files, 'file')} match {bundle}")
    return Signed(StageResult("sign", detail=f"{bundle}, {signer}"), verified, made.bundle_path, signer)
