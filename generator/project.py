"""The GitOps repository the tool works in: where the specs are, which environments exist."""

from __future__ import annotations

import os
from typing import Any

from .findings import Finding, error

PROJECT_FILE = "rollouts.project.yaml"
DEFAULT_ENVIRONMENTS = ("staging", "production")


class Project:
    """The repository root, its environments, and problems found in rollouts.project.yaml."""

    def __init__(self, root: str, environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS,
                 findings: list[Finding] | None = None, skip_kinds: tuple[str, ...] = (),
                 render: dict[str, Any] | None = None) -> None:
        self.root = root
        self.environments = environments
        self.findings = findings or []
        self.skip_kinds = skip_kinds  # validate.skip: kinds the project validates without a schema, by name
        self.render = render or {}  # the render: section, read by generator.render.options_from_project

    def relative(self, path: str) -> str:
        """A path as users see it: relative to the repository root when inside it."""
        absolute = os.path.abspath(path)
        rel = os.path.relpath(absolute, self.root)
        return path if rel.startswith("..") else rel.replace(os.sep, "/")


def load_project(root: str = ".") -> Project:
    """Read ``rollouts.project.yaml`` when present:
    ``environments: [staging, production]``, ``validate: {skip: [apiVersion/Kind, ...]}`` and ``render:`` (checked
    here, read by the renderer: generator.render.options_from_project)."""
    root = os.path.abspath(root)
    path = os.path.join(root, PROJECT_FILE)
    if not os.path.exists(path):
        return Project(root)
    from .spec.load import parse

    with open(path, "rb") as fh:
        doc, findings = parse(fh.read(1024 * 1024), PROJECT_FILE)
    if doc is None:
        return Project(root, findings=findings)
    envs = doc.data.get("environments", list(DEFAULT_ENVIRONMENTS))
    if not isinstance(envs, list) or not envs or not all(isinstance(e, str) and e for e in envs):
        line, col = doc.position(("environments",))
        return Project(root, findings=[error("project-config", PROJECT_FILE, line, col,
                                             "environments must be a non-empty list of names",
                                             "Write environments: [staging, production].")])
    validate = doc.data.get("validate") or {}
    skip = validate.get("skip", []) if isinstance(validate, dict) else None
    if not isinstance(skip, list) or not all(isinstance(k, str) and k for k in skip):
        line, col = doc.position(("validate",))
        return Project(root, tuple(envs), [error("project-config", PROJECT_FILE, line, col,
                                                 "validate.skip must be a list of kinds (Kind or apiVersion/Kind)",
                                                 "Write validate: {skip: [cert-manager.io/v1/Certificate]}.")])
    render = doc.data.get("render")
    problem = _render_problem(render)
    if problem:
        where, message, hint = problem
        line, col = doc.position(where)
        return Project(root, tuple(envs), [error("project-config", PROJECT_FILE, line, col, message, hint)],
                       tuple(skip))
    return Project(root, tuple(envs), skip_kinds=tuple(skip), render=dict(render) if render else None)


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
    """Every services/<service>/rollouts.yaml, sorted; entries that leave the repository are findings."""
    services = os.path.join(project.root, "services")
    found: list[str] = []
    findings: list[Finding] = []
    if not os.path.isdir(services):
        return found, findings
    for entry in sorted(os.listdir(services)):
        if entry.startswith("."):
            continue
        candidate = os.path.join(services, entry, "rollouts.yaml")
        if not os.path.lexists(candidate) and not os.path.islink(os.path.join(services, entry)):
            continue
        problem = outside_repository(project, candidate)
        if problem:
            findings.append(error("path-outside-repository", f"services/{entry}", 0, 0, problem,
                                  "Replace the symlink with a real directory inside the repository."))
        elif os.path.isfile(candidate):
            found.append(candidate)
    return found, findings


def outside_repository(project: Project, path: str) -> str:
    """A message when ``path`` (following symlinks) resolves outside the repository root, else ''."""
    real = os.path.realpath(path)
    root = os.path.realpath(project.root)
    if os.path.commonpath([real, root]) != root:
        return f"{project.relative(path)} resolves to {real}, outside the repository"
    return ""
