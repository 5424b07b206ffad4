"""The GitOps repository the tool works in: where the specs are, which environments exist."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from typing import Any, NamedTuple

from .findings import Finding, error, warning
from .spec.load import parse, parse_plain
from .spec.schema import conforms, findings_against

PROJECT_FILE = "rollouts.project.yaml"
SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "project.schema.json")
DEFAULT_ENVIRONMENTS = ("staging", "production")


class Stack(NamedTuple):
    """What an environment's tree is rendered for (rollouts.project.yaml stack:)."""

    mesh: str = "linkerd"
    controller: str = "flagger"
    gitops: str = "flux"


RENDERED = Stack()  # the one stack this version renders
STACK_KEYS = Stack._fields
PLACEHOLDER_REPOSITORY = "ssh://git@github.com/example/gitops.git"  # RenderOptions.repo_url when none is set
# the folders of flux/apps/<environment>/ the render derives from every service (render/derived.py): not services
DERIVED_APP_FOLDERS = ("namespaces", "analysis-controller", "admission")
START_HINT = ("Run rollouts in your GitOps repository (or pass --root DIR). To start one, write "
              "rollouts.project.yaml with render: {repository: URL, secretRef: NAME} (docs/project.md) and a spec "
              "per service in services/<service>/rollouts.yaml (docs/spec.md).")


class Project:
    """The repository root, its environments, and problems found in rollouts.project.yaml."""

    def __init__(self, root: str, environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS,
                 findings: list[Finding] | None = None, skip_kinds: tuple[str, ...] = (),
                 render: dict[str, Any] | None = None, render_findings: list[Finding] | None = None,
                 controller: dict[str, Any] | None = None, admission: dict[str, Any] | None = None,
                 stacks: dict[str, Stack] | None = None) -> None:
        self.root = root
        self.environments = environments
        self.findings = findings or []
        self.skip_kinds = skip_kinds  # validate.skip: kinds the project validates without a schema, by name
        self.render = render or {}  # the render: section, read by generator.render.options_from_project
        # problems that matter only to a render (no render.repository): render() reports them, lint does not
        self.render_findings = render_findings or []
        self.controller = controller or {}  # the controller: section (image, baseImage)
        # the admission: section (the image signer), checked by _admission_problem; {} = no admission policy
        self.admission = admission or {}
        self.stacks = stacks or {}  # environment -> its stack, when the project sets stack:

    def stack(self, environment: str) -> Stack:
        """The stack ``environment`` is rendered for (the default when the project sets none)."""
        return self.stacks.get(environment, RENDERED)

    def relative(self, path: str) -> str:
        """A path as users see it: relative to the repository root when inside it."""
        absolute = os.path.abspath(path)
        rel = os.path.relpath(absolute, self.root)
        return path if rel.startswith("..") else rel.replace(os.sep, "/")


@cache
def project_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of rollouts.project.yaml."""
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        loaded: dict[str, Any] = json.load(fh)
    return loaded


def load_project(root: str = ".") -> Project:
    """Read ``rollouts.project.yaml`` when present:
    ``environments: [staging, production]``, ``validate: {skip: [apiVersion/Kind, ...]}`` and ``render:`` (checked
    here against project.schema.json, read by the renderer: generator.render.options_from_project)."""
    root = os.path.abspath(root)
    path = os.path.join(root, PROJECT_FILE)
    if not os.path.exists(path):  # a scratch project: the placeholder repository (discover() reports a bare root)
        if not os.path.isdir(os.path.join(root, "services")):
            return Project(root)
        return Project(root, render_findings=[warning(
            "project-config", PROJECT_FILE, 1, 1,
            f"no {PROJECT_FILE}: the GitRepository Flux pulls gets the placeholder URL {PLACEHOLDER_REPOSITORY}",
            f"Create {PROJECT_FILE} with render: {{repository: ssh://git@host/org/gitops.git, secretRef: "
            "flux-system} (the URL of this repository; see docs/project.md).")])
    with open(path, "rb") as fh:
        raw = fh.read(1024 * 1024)
    fast = parse_plain(raw, PROJECT_FILE)  # a valid file needs no positions: ruamel only when there is a finding
    if fast is not None:
        project = _project(root, fast)
        if not project.findings and not project.render_findings:
            return project
    doc, findings = parse(raw, PROJECT_FILE)
    if doc is None:
        return Project(root, findings=findings)
    return _project(root, doc)


def _project(root: str, doc: Any) -> Project:
    """The project ``doc`` describes, with a finding for each problem (at its line:col when ``doc`` has them)."""
    unknown, invalid = _schema_findings(doc)
    findings = list(unknown)
    envs = doc.data.get("environments", list(DEFAULT_ENVIRONMENTS))
    if not isinstance(envs, list) or not envs or not all(isinstance(e, str) and e for e in envs):
        line, col = doc.position(("environments",))
        return Project(root, findings=[*findings, error("project-config", PROJECT_FILE, line, col,
                                                        "environments must be a non-empty list of names",
                                                        "Write environments: [staging, production].")])
    validate = doc.data.get("validate") or {}
    skip = validate.get("skip", []) if isinstance(validate, dict) else None
    if not isinstance(skip, list) or not all(isinstance(k, str) and k for k in skip):
        line, col = doc.position(("validate",))
        return Project(root, tuple(envs), [*findings, error(
            "project-config", PROJECT_FILE, line, col,
            "validate.skip must be a list of kinds (Kind or apiVersion/Kind)",
            "Write validate: {skip: [cert-manager.io/v1/Certificate]}.")])
    render, stack, admission = doc.data.get("render"), doc.data.get("stack"), doc.data.get("admission")
    for problem in (_render_problem(render), _stack_problem(stack, envs), _admission_problem(admission)):
        if problem:
            where, message, hint = problem
            line, col = doc.position(where)
            return Project(root, tuple(envs), [*findings, error("project-config", PROJECT_FILE, line, col, message,
                                                                hint)], tuple(skip))
    findings += invalid  # what the checks above do not word better
    render_findings = []
    if not (render or {}).get("repository"):
        line, col = doc.position(("render",), key=True) if render is not None else (1, 1)
        render_findings.append(error(
            "project-config", PROJECT_FILE, line, col,
            "render.repository is not set: the GitRepository Flux pulls would get the placeholder URL "
            f"{PLACEHOLDER_REPOSITORY}",
            "Add render: {repository: ssh://git@host/org/gitops.git, secretRef: flux-system} (the URL of this "
            "repository; see docs/project.md)."))
    controller = doc.data.get("controller")
    controller = dict(controller) if isinstance(controller, dict) else {}
    findings += _unpinned_images(doc, controller)
    return Project(root, tuple(envs), findings, skip_kinds=tuple(skip), render=dict(render) if render else None,
                   render_findings=render_findings, controller=controller,
                   admission=dict(admission) if admission else None, stacks=stacks_of(stack, envs))


def stacks_of(stack: Any, environments: list[str]) -> dict[str, Stack]:
    """Each environment's stack: the project's choices, then the environment's own (stack: of the project file)."""
    if not isinstance(stack, dict):
        return {}
    base = {k: str(stack[k]) for k in STACK_KEYS if k in stack}
    own = stack.get("environments") or {}
    return {env: Stack(**{**base, **{k: str(v) for k, v in (own.get(env) or {}).items() if k in STACK_KEYS}})
            for env in environments}


# Argo Rollouts routes Linkerd traffic only through its Gateway API plugin (argoproj-labs/rollouts-plugin-trafficrouter-
# gatewayapi), which is not a stack of the seeds: the issue's Argo Rollouts runs on Istio or Traefik.
MISSING = {("linkerd", "argo-rollouts"): "Argo Rollouts has no Linkerd traffic router of its own (it needs the Gateway "
                                         "API plugin, argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi)"}


def _stack_problem(stack: Any, environments: list[str]) -> tuple[tuple[str, ...], str, str] | None:
    """What is wrong in ``stack:`` (where, message, hint), or None: an unknown environment, a combination that does
    not exist, or one this version does not render yet."""
    if stack is None:
        return None
    if not isinstance(stack, dict):
        return ("stack",), "stack must be a mapping", "Write stack: {mesh: linkerd, controller: flagger, gitops: flux}."
    own = stack.get("environments") or {}
    if not isinstance(own, dict):
        return ("stack", "environments"), "stack.environments must map environments to their stack", \
            "Write stack: {environments: {staging: {mesh: linkerd}}}."
    for env in own:
        if env not in environments:
            return (("stack", "environments", env), f"stack.environments names {env!r}, which is not one of the "
                    f"project's environments ({', '.join(environments)})", "Add it to environments, or remove it.")
    choices = project_schema()["properties"]["stack"]["properties"]
    stacks = stacks_of(stack, environments)
    if any(v not in choices[k]["enum"] for s in stacks.values() for k, v in s._asdict().items()):
        return None  # the schema's finding names the choices

    def where(env: str, key: str) -> tuple[str, ...]:
        return ("stack", "environments", env, key) if key in (own.get(env) or {}) else ("stack", key)

    for env, chosen in stacks.items():
        reason = MISSING.get((chosen.mesh, chosen.controller))
        if reason:
            return (where(env, "controller"), f"{env}: {chosen.controller} on {chosen.mesh} does not exist: {reason}",
                    "Choose mesh istio or traefik for argo-rollouts, or controller flagger for linkerd.")
        for key in STACK_KEYS:
            if getattr(chosen, key) != getattr(RENDERED, key):
                return (where(env, key), f"{env}: this version of rollouts renders mesh linkerd, controller flagger "
                        f"and gitops flux only, not {key} {getattr(chosen, key)}",
                        "Remove the choice (the other stacks are on the roadmap: docs/project.md).")
    return None


ADMISSION_HINT = ("Write admission: {keyless: {issuer: https://token.actions.githubusercontent.com, subject: "
                  "https://github.com/ORG/REPO/.github/workflows/release.yml@refs/heads/main}} or admission: {key: "
                  "{secretRef: NAME}} (docs/project.md).")


def _admission_problem(admission: Any) -> tuple[tuple[str, ...], str, str] | None:
    """What makes the ``admission:`` section unusable for a ClusterImagePolicy (where, message, hint), or None:
    a policy with no signer, or with two, would admit or reject the wrong images, so the render refuses it."""
    if admission is None:
        return None
    if not isinstance(admission, dict):
        return ("admission",), "admission must be a mapping", ADMISSION_HINT
    kinds = [k for k in ("keyless", "key") if k in admission]
    if len(kinds) != 1:
        return (("admission",), "admission needs exactly one signer: keyless (issuer and subject or subjectRegExp) "
                "or key (secretRef)", ADMISSION_HINT)
    signer = admission[kinds[0]]
    if not isinstance(signer, dict):
        return (("admission", kinds[0]), f"admission.{kinds[0]} must be a mapping", ADMISSION_HINT)
    if kinds[0] == "key":
        if not isinstance(signer.get("secretRef"), str) or not signer["secretRef"]:
            return (("admission", "key"), "admission.key.secretRef must name the Secret holding the public key",
                    ADMISSION_HINT)
        return None
    if not isinstance(signer.get("issuer"), str) or not signer["issuer"].startswith("https://"):
        return (("admission", "keyless"), "admission.keyless.issuer must be the https:// URL of the OIDC issuer in "
                "the signing certificate", ADMISSION_HINT)
    subjects = [k for k in ("subject", "subjectRegExp") if isinstance(signer.get(k), str) and signer[k]]
    if len(subjects) != 1:
        return (("admission", "keyless"), "admission.keyless needs exactly one of subject and subjectRegExp: "
                "without an identity any certificate of the issuer would pass", ADMISSION_HINT)
    if subjects == ["subjectRegExp"]:
        try:
            re.compile(signer["subjectRegExp"])
        except re.error as exc:
            return (("admission", "keyless", "subjectRegExp"),
                    f"admission.keyless.subjectRegExp does not compile: {exc}", ADMISSION_HINT)
    return None


DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _unpinned_images(doc: Any, controller: dict[str, Any]) -> list[Finding]:
    """A warning for each controller image not pinned by digest: a tag can be moved to other bytes, so the
    running controller (and what it built on) would no longer be the one reviewed."""
    found = []
    for key in ("image", "baseImage"):
        value = controller.get(key)
        if isinstance(value, str) and value and not DIGEST.search(value):
            line, col = doc.position(("controller", key))
            found.append(warning("project-config", PROJECT_FILE, line, col,
                                 f"controller.{key} {value!r} is not pinned by digest",
                                 f"Write controller.{key}: REPO@sha256:<digest> (the digest the registry gives)."))
    return found


def _schema_findings(doc: Any) -> tuple[list[Finding], list[Finding]]:
    """project.schema.json's verdict, each problem at its line:col in lint's words: the unknown keys (with a
    did-you-mean), and the other problems."""
    if conforms(doc, project_schema()):
        return [], []
    unknown: list[Finding] = []
    invalid: list[Finding] = []
    for found in findings_against(doc, project_schema()):
        (unknown if found.rule == "schema-unknown-key" else invalid).append(found._replace(rule="project-config"))
    return unknown, invalid


def _render_problem(render: Any) -> tuple[tuple[str, ...], str, str] | None:
    """What is wrong in the ``render:`` section (where, message, hint), or None."""
    if render is None:
        return None
    if not isinstance(render, dict):
        return ("render",), "render must be a mapping", "Write render: {repository: URL, secretRef: NAME}."
    for key in ("repository", "branch", "secretRef", "verifySecret"):
        if key in render and not isinstance(render[key], str):
            return ("render", key), f"render.{key} must be a string", f"Quote the value of {key}."
    url = render.get("repository", "")
    if url and not url.startswith(("https://", "http://", "ssh://")):
        return (("render", "repository"), f"repository {url!r} is not an http(s):// or ssh:// URL (source-controller "
                "accepts no other, and no scp-like git@host:path)", "Write ssh://git@host/org/repo.git.")
    if url.startswith("ssh://") and not render.get("secretRef"):
        return (("render", "repository"), "an ssh:// repository needs render.secretRef: source-controller cannot "
                "clone it without a Secret holding the SSH key ('identity' is required)",
                "Add render: {secretRef: flux-system} to reuse the deploy key flux bootstrap stores in the Secret "
                "flux-system/flux-system, or create one: flux create secret git NAME --url=" + url
                + " --private-key-file=KEY (then add the printed public key as a deploy key).")
    return None


def discover(project: Project) -> tuple[list[str], list[Finding]]:
    """Every services/<service>/rollouts.yaml, sorted; entries that leave the repository, specs saved under another
    name (rollouts.yml) and a directory with neither rollouts.project.yaml nor any spec are findings."""
    services = os.path.join(project.root, "services")
    found: list[str] = []
    findings: list[Finding] = []
    for entry in sorted(os.listdir(services)) if os.path.isdir(services) else []:
        if entry.startswith("."):
            continue
        candidate = os.path.join(services, entry, "rollouts.yaml")
        misnamed = os.path.join(services, entry, "rollouts.yml")
        if os.path.isfile(misnamed) and not outside_repository(project, misnamed):
            also = " beside rollouts.yaml" if os.path.lexists(candidate) else ""
            findings.append(error(
                "project-config", f"services/{entry}/rollouts.yml", 0, 0,
                f"this spec is named rollouts.yml{also}, so lint, render and render --check ignore it",
                f"Rename it to services/{entry}/rollouts.yaml" + (" (merge the two files first)." if also else ".")))
        if not os.path.lexists(candidate) and not os.path.islink(os.path.join(services, entry)):
            continue
        problem = outside_repository(project, candidate)
        if problem:
            findings.append(error("path-outside-repository", f"services/{entry}", 0, 0, problem,
                                  "Replace the symlink with a real directory inside the repository."))
        elif os.path.isfile(candidate):
            found.append(candidate)
    if not found and not findings and not os.path.exists(os.path.join(project.root, PROJECT_FILE)):
        findings.append(error("project-config", PROJECT_FILE, 0, 0,
                              f"no {PROJECT_FILE} and no services/*/rollouts.yaml under {project.root}: this is "
                              "not a rollouts repository, so there is nothing to lint or render", START_HINT))
    return found, findings


def outside_repository(project: Project, path: str) -> str:
    """A message when ``path`` (following symlinks) resolves outside the repository root, else ''."""
    real = os.path.realpath(path)
    root = os.path.realpath(project.root)
    if os.path.commonpath([real, root]) != root:
        return f"{project.relative(path)} resolves to {real}, outside the repository"
    return ""
