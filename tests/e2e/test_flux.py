"""Flux applies only what the pipeline signed: source-controller and kustomize-controller (v1.9) on the e2e control
plane, pulling a GitOps repository served over HTTP on 127.0.0.1.

The repository is written by the product's own ``rollouts commit --signing-key`` (SSH-signed commits, a cosign
bundle from ``rollouts keys``), from a copy of the checkout service and a project file whose ``render.repository``
is the served URL (the only test-side setting). The cluster gets the verify Secret exactly as docs/signing.md says.
Then:

* apps path: the rendered ``rollouts`` GitRepository and the rendered Flux Kustomizations of one service's apps path
  (their dependsOn on the infrastructure dropped, and the Canary's phase set as Flagger sets it: neither Flagger
  nor helm-controller runs here) apply a signed commit;
  an unsigned push and a commit signed by another key are refused (``SourceVerified=False``,
  ``InvalidCommitSignature``) and nothing of theirs is applied; the next pipeline commit is applied again;
* bootstrap layer: what ``flux bootstrap --path flux/bootstrap --ssh-signing-key-file`` does after the pipeline's
  first commit (docs/render.md; flux2 ``pkg/bootstrap``: gotk-sync.yaml beside the rendered kustomization.yaml,
  which it keeps and applies) gives a ``flux-system`` GitRepository that verifies commits too: it applies the
  signed tree, and refuses an unsigned push that drops every verification.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.e2e.cluster import Cluster
from tests.e2e.flux import NAMESPACE, FluxControllers, Kubectl, condition, crd_files, wait_for
from tests.e2e.gitserver import GitServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ROLLOUTS = str(Path(sys.executable).parent / "rollouts")
SERVICE, ENV, SERVICE_NS = "checkout", "staging", "shop-staging"
SECRET = "rollouts-commit-signers"  # render.verifySecret of the project file (docs/signing.md)
GIT_ENV = {"GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@localhost", "GIT_COMMITTER_NAME": "e2e",
           "GIT_COMMITTER_EMAIL": "e2e@localhost", "GIT_TERMINAL_PROMPT": "0"}


# --- the parts ------------------------------------------------------------------------------------------------------

@dataclass
class Keys:
    cosign: Path  # the bundle key (rollouts keys generate), password in COSIGN_PASSWORD
    commit: Path  # the pipeline's SSH commit-signing key; its .pub goes into the verify Secret
    other: Path  # an SSH key Flux does not trust


@dataclass
class Flux:
    kube: Kubectl
    server: GitServer
    controllers: FluxControllers
    keys: Keys

    def details(self, *objects: tuple[str, str, str]) -> str:
        """The status of the given (kind, namespace, name) objects and the controllers' logs, for failures."""
        parts = []
        for kind, namespace, name in objects:
            obj = self.kube.get("-n", namespace, kind, name)
            parts.append(f"{kind} {namespace}/{name}: {json.dumps((obj or {}).get('status'), indent=1)}")
        return "\n".join([*parts, self.controllers.logs(20)])


def _run(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(args, cwd=cwd, env={**os.environ, **GIT_ENV, **(env or {})}, text=True,
                         capture_output=True, check=False, timeout=300)
    assert out.returncode == 0, f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out.stdout


def git(cwd: Path, *args: str) -> str:
    return _run(["git", *args], cwd=cwd).strip()


@pytest.fixture(scope="module")
def flux(cluster: Cluster, shared: Path, need_bin: Callable[[str], str]) -> Iterator[Flux]:
    """CRDs, the verify Secret, the keys, the git server and both controllers (logs in the run's scratch folder)."""
    for name in ("source-controller", "kustomize-controller"):
        need_bin(name)
    work = cluster.workdir / "flux-e2e"
    work.mkdir()
    kube = Kubectl(cluster.kubectl)
    crds = crd_files(str(shared))
    assert crds, f"no CRDs under {shared}/crds"
    kube("apply", "--server-side", "--force-conflicts", "--field-manager=rollouts-e2e",
         *[arg for path in crds for arg in ("-f", path)])
    kube("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})

    keys = Keys(work / "keys" / "cosign", work / "keys" / "commit", work / "keys" / "other")
    keys.cosign.parent.mkdir()
    _run([ROLLOUTS, "keys", "generate", "--output-prefix", str(keys.cosign)], env={"COSIGN_PASSWORD": "e2e"})
    keys.cosign = keys.cosign.with_suffix(".key")
    for key in (keys.commit, keys.other):
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key.name, "-f", str(key)])
    # docs/signing.md: the Secret must exist before Flux fetches, and cannot come from the repository it protects
    kube("-n", NAMESPACE, "create", "secret", "generic", SECRET, f"--from-file=git.sshpub={keys.commit}.pub")

    with GitServer(str(work / "git")) as server:
        controllers = FluxControllers(need_bin, str(cluster.kubeconfig), str(work))
        try:
            controllers.start()
            yield Flux(kube, server, controllers, keys)
        finally:
            controllers.stop()


# --- the GitOps repository ------------------------------------------------------------------------------------------

def make_project(path: Path, url: str) -> Path:
    """A source repository with the checkout service and the repository's project file, rendering ``url``."""
    yaml = YAML(typ="safe")
    shutil.copytree(ROOT / "services" / SERVICE, path / "services" / SERVICE)
    with open(ROOT / "rollouts.project.yaml", encoding="utf-8") as fh:
        settings: dict[str, Any] = yaml.load(fh)
    render = settings.setdefault("render", {})
    render["repository"] = url
    render.pop("secretRef", None)  # served without credentials
    with open(path / "rollouts.project.yaml", "w", encoding="utf-8") as fh:
        yaml.dump(settings, fh)
    return path


def set_image_tag(project: Path, tag: str) -> None:
    """A new release of the service: the first ``tag:`` of its spec (spec.workload.image.tag)."""
    spec = project / "services" / SERVICE / "rollouts.yaml"
    text, count = re.subn(r"(?m)^(\s+tag:\s*)\S+", rf"\g<1>{tag}", spec.read_text(encoding="utf-8"), count=1)
    assert count == 1, f"no image tag in {spec}"
    spec.write_text(text, encoding="utf-8")


def rollouts_commit(flux: Flux, name: str, project: Path, signing_key: Path) -> str:
    """``rollouts commit`` to the served repository ``name``, SSH-signed with ``signing_key``; returns the pushed
    commit. Validation is skipped: the e2e control plane's server-side apply checks the same objects for real."""
    before = flux.server.head(name)
    _run([ROLLOUTS, "commit", "--root", str(project), "--repo", flux.server.url(name), "--signing-key",
          str(signing_key), "--key", str(flux.keys.cosign), "--skip-validate"], env={"COSIGN_PASSWORD": "e2e"})
    after = flux.server.head(name)
    assert after and after != before, f"rollouts commit pushed nothing to {name}"
    return after


def clone(url: str, dest: Path) -> Path:
    if dest.exists():
        git(dest, "pull", "-q", "--ff-only", url, "main")
    else:
        _run(["git", "clone", "-q", "--branch", "main", url, str(dest)])
    return dest


def push_unsigned(checkout: Path, url: str, message: str) -> str:
    git(checkout, "add", "-A")
    git(checkout, "-c", "commit.gpgsign=false", "commit", "-q", "-m", message)
    git(checkout, "push", "-q", url, "HEAD:main")
    return git(checkout, "rev-parse", "HEAD")


def add_marker(checkout: Path, directory: str, name: str, namespace: str) -> None:
    """A ConfigMap ``name`` listed in ``directory``'s kustomization.yaml: applied only if the commit is."""
    folder = checkout / directory
    (folder / f"{name}.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        "data:\n  pushed-by: someone without the pipeline key\n", encoding="utf-8")
    kustomization = folder / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    assert "resources:\n" in text, f"{kustomization} lists no resources"
    kustomization.write_text(text.replace("resources:\n", f"resources:\n  - {name}.yaml\n", 1), encoding="utf-8")


def documents(tree: Path, under: str) -> list[dict[str, Any]]:
    yaml = YAML(typ="safe")
    found: list[dict[str, Any]] = []
    for path in sorted((tree / under).rglob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            found += [doc for doc in yaml.load_all(fh) if isinstance(doc, dict)]
    return found


def rendered(tree: Path, kind: str, name: str) -> dict[str, Any]:
    for doc in documents(tree, "flux"):
        if doc.get("kind") == kind and doc.get("metadata", {}).get("name") == name:
            return doc
    raise AssertionError(f"the rendered tree has no {kind} {name}")


def apps_kustomizations(tree: Path) -> tuple[list[dict[str, Any]], str]:
    """The rendered Flux Kustomizations that apply the service in ENV: its own (path ./flux/apps/ENV/SERVICE) and
    the apps ones it depends on, or, in a tree with one Kustomization per environment, the environment's. Their
    dependsOn on anything else (the infrastructure, not running here) is dropped. Also returns which layout."""
    flux_ks = [doc for doc in documents(tree, "flux/bootstrap") if doc.get("kind") == "Kustomization"
               and str(doc.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/")]
    by_name = {doc["metadata"]["name"]: doc for doc in flux_ks}

    def path(doc: dict[str, Any]) -> str:
        return str(doc["spec"].get("path", "")).rstrip("/")

    own = [doc for doc in flux_ks if path(doc) == f"./flux/apps/{ENV}/{SERVICE}"]
    layout = "per service"
    if not own:
        own = [doc for doc in flux_ks if path(doc) == f"./flux/apps/{ENV}"]
        layout = "per environment"
    assert own, f"no rendered Flux Kustomization applies ./flux/apps/{ENV}/{SERVICE} or ./flux/apps/{ENV}"
    selected: dict[str, dict[str, Any]] = {}
    todo = list(own)
    while todo:
        doc = todo.pop()
        selected[doc["metadata"]["name"]] = doc
        for dep in doc["spec"].get("dependsOn") or []:
            other = by_name.get(dep["name"])
            if other is not None and path(other).startswith("./flux/apps/") and dep["name"] not in selected:
                todo.append(other)
    for doc in selected.values():
        deps = [d for d in doc["spec"].get("dependsOn") or [] if d["name"] in selected]
        doc["spec"].pop("dependsOn", None)
        if deps:
            doc["spec"]["dependsOn"] = deps
    return list(selected.values()), layout


def revision(repo: dict[str, Any] | None) -> str:
    return str((((repo or {}).get("status") or {}).get("artifact") or {}).get("revision", ""))


# --- the apps path --------------------------------------------------------------------------------------------------

@pytest.fixture
def clean(flux: Flux) -> Iterator[Flux]:
    """After the test, delete its Flux objects (without pruning what they applied) so the next test starts alone."""
    yield flux
    kinds = ("kustomizations.kustomize.toolkit.fluxcd.io", "gitrepositories.source.toolkit.fluxcd.io")
    for kind in kinds:
        for item in (flux.kube.get("-n", NAMESPACE, kind) or {}).get("items", []):
            if kind.startswith("kustomizations"):
                flux.kube("-n", NAMESPACE, "patch", kind, item["metadata"]["name"], "--type=merge",
                          "-p", '{"spec": {"prune": false}}')
        flux.kube("-n", NAMESPACE, "delete", kind, "--all", "--wait=false")

    def gone() -> bool:
        return not any((flux.kube.get("-n", NAMESPACE, kind) or {}).get("items") for kind in kinds)

    try:
        wait_for("the test's Flux objects to be deleted", gone, timeout=60)
    except AssertionError:  # a controller busy on a failed test's object: drop the finalizers instead
        for kind in kinds:
            for item in (flux.kube.get("-n", NAMESPACE, kind) or {}).get("items", []):
                flux.kube("-n", NAMESPACE, "patch", kind, item["metadata"]["name"], "--type=merge",
                          "-p", '{"metadata": {"finalizers": null}}')


def test_apps_path_applies_only_commits_signed_by_the_pipeline_key(clean: Flux, tmp_path: Path) -> None:
    flux = clean
    kube = flux.kube
    url = flux.server.create("apps")
    project = make_project(tmp_path / "source", url)
    first = rollouts_commit(flux, "apps", project, flux.keys.commit)
    tree = clone(url, tmp_path / "gitops")

    repository = rendered(tree, "GitRepository", "rollouts")
    assert repository["spec"]["url"] == url
    assert repository["spec"]["verify"] == {"mode": "HEAD", "secretRef": {"name": SECRET}}
    kustomizations, layout = apps_kustomizations(tree)
    print(f"\napps Kustomizations ({layout}): {', '.join(k['metadata']['name'] for k in kustomizations)}")
    release = rendered(tree, "HelmRelease", SERVICE)
    tag = release["spec"]["values"]["image"]["tag"]
    kube.apply(repository, *kustomizations)
    watched = [("gitrepository", NAMESPACE, "rollouts"),
               *[("kustomization", NAMESPACE, k["metadata"]["name"]) for k in kustomizations]]

    def get_repo() -> dict[str, Any] | None:
        return kube.get("-n", NAMESPACE, "gitrepository", "rollouts")

    def image_tag() -> str:
        obj = kube.get("-n", SERVICE_NS, "helmrelease", SERVICE)
        return str(((obj or {}).get("spec") or {}).get("values", {}).get("image", {}).get("tag", ""))

    def kustomizations_at(rev: str) -> bool:
        return all(((kube.get("-n", NAMESPACE, "kustomization", k["metadata"]["name"]) or {}).get("status") or {})
                   .get("lastAttemptedRevision") == rev for k in kustomizations)

    # 1. the pipeline's commit: verified, fetched, applied
    repo = wait_for(f"GitRepository rollouts at {first}, verified",
                    lambda: (r := get_repo()) and revision(r).endswith(first)
                    and condition(r, "SourceVerified").get("status") == "True"
                    and condition(r, "Ready").get("status") == "True" and r,
                    details=lambda: flux.details(*watched))
    assert first in condition(repo, "SourceVerified")["message"]
    wait_for(f"the {SERVICE} Canary applied from {first}",
             lambda: kustomizations_at(revision(repo)) and kube.get("-n", SERVICE_NS, "canary", SERVICE),
             timeout=120, details=lambda: flux.details(*watched))
    assert image_tag() == tag
    # Flagger does not run in this suite: say what it says once it has initialised the canary, so that the
    # rendered health checks (Canary phase expressions) can pass and the Kustomizations get Ready
    kube("-n", SERVICE_NS, "patch", "canary", SERVICE, "--subresource=status", "--type=merge",
         "-p", '{"status": {"phase": "Initialized"}}')
    wait_for("the apps Kustomizations Ready at the signed commit",
             lambda: all(condition(k, "Ready").get("status") == "True"
                         and ((k or {}).get("status") or {}).get("lastAppliedRevision") == revision(repo)
                         for k in [kube.get("-n", NAMESPACE, "kustomization", m["metadata"]["name"])
                                   for m in kustomizations]),
             timeout=120, details=lambda: flux.details(*watched))

    # 2. an unsigned push: refused, the artifact and the cluster stay at the signed commit
    add_marker(tree, f"flux/apps/{ENV}/{SERVICE}", "e2e-unsigned", SERVICE_NS)
    unsigned = push_unsigned(tree, url, "not from the pipeline")
    refused(flux, "rollouts", unsigned, first, watched)
    nothing_new_applied(flux, kustomizations, watched)
    assert kube.get("-n", SERVICE_NS, "configmap", "e2e-unsigned") is None

    # 3. a commit signed by another key (a pipeline run with the wrong key): refused, its release not applied
    set_image_tag(project, "9.9.8")
    wrong = rollouts_commit(flux, "apps", project, flux.keys.other)
    repo = refused(flux, "rollouts", wrong, first, watched)
    assert "no matching key" in condition(repo, "SourceVerified")["message"], condition(repo, "SourceVerified")
    nothing_new_applied(flux, kustomizations, watched)
    assert image_tag() == tag

    # 4. the pipeline's key again: applied (so the refusals above were about the signatures, nothing else)
    set_image_tag(project, "9.9.9")
    good = rollouts_commit(flux, "apps", project, flux.keys.commit)
    kube.reconcile("gitrepository", "rollouts")
    repo = wait_for(f"GitRepository rollouts at {good}, verified",
                    lambda: (r := get_repo()) and revision(r).endswith(good)
                    and condition(r, "SourceVerified").get("status") == "True" and r,
                    details=lambda: flux.details(*watched))
    wait_for("the new release applied", lambda: kustomizations_at(revision(repo)) and image_tag() == "9.9.9",
             timeout=120, details=lambda: flux.details(*watched))
    assert kube.get("-n", SERVICE_NS, "configmap", "e2e-unsigned") is None  # the re-render dropped the marker



def refused(flux: Flux, name: str, commit: str, kept: str, watched: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Ask for a fetch; the GitRepository must refuse ``commit`` (SourceVerified=False, InvalidCommitSignature)
    and keep serving the artifact of ``kept``."""
    flux.kube.reconcile("gitrepository", name)
    repo: dict[str, Any] = wait_for(
        f"GitRepository {name} to refuse {commit}",
        lambda: (r := flux.kube.get("-n", NAMESPACE, "gitrepository", name))
        and condition(r, "SourceVerified").get("status") == "False"
        and commit in condition(r, "SourceVerified").get("message", "") and r,
        details=lambda: flux.details(*watched))
    verified = condition(repo, "SourceVerified")
    assert verified["reason"] == "InvalidCommitSignature", verified
    assert condition(repo, "Ready").get("status") == "False"
    assert revision(repo).endswith(kept), f"the artifact moved off {kept}: {revision(repo)}"
    return repo


def nothing_new_applied(flux: Flux, kustomizations: list[dict[str, Any]], watched: list[tuple[str, str, str]]) -> None:
    """Make kustomize-controller reconcile now and wait until it has: it may only re-apply the kept artifact."""
    for k in kustomizations:
        name = k["metadata"]["name"]
        token = flux.kube.reconcile("kustomization", name)

        def handled(name: str = name, token: str = token) -> bool:
            status = (flux.kube.get("-n", NAMESPACE, "kustomization", name) or {}).get("status") or {}
            return bool(status.get("lastHandledReconcileAt") == token)

        wait_for(f"Kustomization {name} to handle the reconcile request", handled, timeout=120,
                 details=lambda: flux.details(*watched))


# --- the bootstrap layer --------------------------------------------------------------------------------------------

def bootstrap(checkout: Path, url: str, signing_key: Path) -> list[dict[str, Any]]:
    """What ``flux bootstrap git --url URL --branch main --path flux/bootstrap --ssh-signing-key-file KEY`` (as
    docs/render.md says) writes and applies (flux2 pkg/bootstrap, pkg/manifestgen/sync): gotk-components.yaml (here
    only the namespace: the CRDs are installed and the controllers run out of cluster) and gotk-sync.yaml in
    flux/bootstrap/flux-system/, and a kustomization.yaml there only when none exists (an existing one is kept); one
    commit, SSH-signed, pushed; then it applies `kustomize build` of that folder: those objects are returned."""
    folder = checkout / "flux" / "bootstrap" / "flux-system"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gotk-components.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n",
                                                 encoding="utf-8")
    (folder / "gotk-sync.yaml").write_text(
        "# This manifest was generated by flux. DO NOT EDIT.\n---\n"
        "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 1m0s\n  ref:\n    branch: main\n  secretRef:\n"
        f"    name: flux-system\n  url: {url}\n"
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n"
        "  namespace: flux-system\nspec:\n  interval: 10m0s\n  path: ./flux/bootstrap\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n", encoding="utf-8")
    if not (folder / "kustomization.yaml").exists():
        (folder / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
            "- gotk-components.yaml\n- gotk-sync.yaml\n", encoding="utf-8")
    git(checkout, "add", "-A")
    git(checkout, "-c", "gpg.format=ssh", "-c", f"user.signingkey={signing_key}", "commit", "-q", "-S",
        "-m", "Add Flux sync manifests")
    git(checkout, "push", "-q", url, "HEAD:main")
    built = _run([Cluster.bin("kubectl"), "kustomize", str(folder)])
    return [doc for doc in YAML(typ="safe").load_all(built) if isinstance(doc, dict)]


def test_bootstrap_layer_refuses_an_unsigned_commit(clean: Flux, tmp_path: Path) -> None:
    flux = clean
    kube = flux.kube
    url = flux.server.create("bootstrap")
    project = make_project(tmp_path / "source", url)
    rollouts_commit(flux, "bootstrap", project, flux.keys.commit)
    tree = clone(url, tmp_path / "gitops")
    # `flux bootstrap git` with --username/--password: the source Secret (the server here ignores credentials)
    kube("-n", NAMESPACE, "create", "secret", "generic", "flux-system", "--from-literal=username=git",
         "--from-literal=password=unused")
    objects = bootstrap(tree, url, flux.keys.commit)
    head = flux.server.head("bootstrap")
    names = [(o.get("kind"), o.get("metadata", {}).get("name")) for o in objects]
    assert ("GitRepository", "flux-system") in names and ("Kustomization", "flux-system") in names, (
        "kustomize build of flux/bootstrap/flux-system, as flux bootstrap applies it, lacks its sync manifests "
        f"(gotk-sync.yaml): it builds {names}")
    watched = [("gitrepository", NAMESPACE, "flux-system"), ("kustomization", NAMESPACE, "flux-system")]

    def get_repo() -> dict[str, Any] | None:
        return kube.get("-n", NAMESPACE, "gitrepository", "flux-system")

    kube.apply(*objects)
    repo = get_repo()
    assert repo is not None and repo["spec"].get("verify"), (
        "the flux-system GitRepository that flux bootstrap creates does not verify commits: the rendered "
        "flux/bootstrap/flux-system/kustomization.yaml adds no spec.verify to it")
    repo = wait_for("GitRepository flux-system verified at bootstrap's signed commit",
                    lambda: (r := get_repo()) and revision(r).endswith(head)
                    and condition(r, "SourceVerified").get("status") == "True" and r,
                    details=lambda: flux.details(*watched))
    # the bootstrap layer applies itself (the rendered flux/bootstrap) from that commit
    wait_for(f"Kustomization flux-system to apply {head}",
             lambda: (((kube.get("-n", NAMESPACE, "kustomization", "flux-system") or {}).get("status") or {})
                      .get("lastAppliedRevision", "")).endswith(head),
             timeout=120, details=lambda: flux.details(*watched))
    assert kube.get("-n", NAMESPACE, "gitrepository", "rollouts") is not None, "flux/bootstrap was not applied"

    # an unsigned push that drops every verification (spec.verify blocks, and kustomization patches, which add
    # it to flux-system) and adds an object: refused, nothing of it applied
    for path in (tree / "flux" / "bootstrap").rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        dropped = re.sub(r"(?m)^( *)verify:\n(?:\1 +.*\n)+", "", text)
        if path.name == "kustomization.yaml":
            dropped = re.sub(r"(?ms)^patches:\n.*", "", dropped)
        if dropped != text:
            path.write_text(dropped, encoding="utf-8")
    add_marker(tree, "flux/bootstrap", "e2e-unsigned-bootstrap", NAMESPACE)
    unsigned = push_unsigned(tree, url, "drop the verification")
    refused(flux, "flux-system", unsigned, head, watched)
    nothing_new_applied(flux, [{"metadata": {"name": "flux-system"}}], watched)
    assert kube.get("-n", NAMESPACE, "configmap", "e2e-unsigned-bootstrap") is None
    repo = get_repo()
    assert repo is not None and repo["spec"].get("verify"), "the unsigned commit removed the verification"
    for other in (kube.get("-n", NAMESPACE, "gitrepository") or {}).get("items", []):
        if other["spec"]["url"] == url:
            assert other["spec"].get("verify"), f"GitRepository {other['metadata']['name']} lost its verification"

