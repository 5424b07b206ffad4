"""rollouts validate / schemas / check as users run them: fresh processes, formats and exit codes."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rollouts.catalog.fetch import fetch
from rollouts.errors import RolloutsError

from tests.validate.rendered import render_examples
from tests.validate.test_examples import SKIP

Run = Callable[..., subprocess.CompletedProcess[str]]

BAD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  replicas: "2"
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      containers: [{name: app, image: x}]
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "flux" / "apps").mkdir(parents=True)
    (tmp_path / "flux" / "apps" / "d.yaml").write_text(BAD)
    return tmp_path


def test_validate_reports_and_exits_1(tree: Path, run_cli: Run, core_catalog: Path,
                                      tool: Callable[[str], str]) -> None:
    tool("kubeconform")
    proc = run_cli("validate", "--schemas", str(core_catalog), cwd=tree)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("flux/apps/d.yaml:5:13: error: /spec/replicas: got string, want null or integer "
                                  "[Deployment shop/checkout] (schema-violation)\n")
    assert proc.stderr == "1 error(s), 0 warning(s)\n"
    proc = run_cli("validate", "--schemas", str(core_catalog), "--format", "json", cwd=tree)
    (finding,) = json.loads(proc.stdout)
    assert (finding["rule"], finding["path"], finding["line"]) == ("schema-violation", "/spec/replicas", 5)
    proc = run_cli("validate", "--format", "github", cwd=tree, env={"ROLLOUTS_SCHEMAS": str(core_catalog)})
    assert proc.stdout.startswith("::error file=flux/apps/d.yaml,line=5,col=13,title=schema-violation::")
    (tree / "flux" / "apps" / "d.yaml").write_text(BAD.replace('"2"', "2"))
    proc = run_cli("validate", "--schemas", str(core_catalog), cwd=tree)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "validated 1 file under flux: no problems\n")


def test_warnings_fail_only_under_strict(tree: Path, run_cli: Run, core_catalog: Path,
                                         tool: Callable[[str], str]) -> None:
    tool("kubeconform")
    (tree / "flux" / "apps" / "d.yaml").write_text(BAD.replace('"2"', "2"))
    (tree / "flux" / "apps" / "m.yaml").write_text(
        "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: m, namespace: shop}\n"
        "spec: {provider: {type: prometheus}, query: up}\n")
    env = {"PATH": str(tree / "no-tools")}  # promtool is not on this PATH: a warning, not an error
    proc = run_cli("validate", "--schemas", str(core_catalog), "--skip", "MetricTemplate", cwd=tree, env=env)
    assert proc.returncode == 0 and "(promql-unchecked)" in proc.stdout
    proc = run_cli("validate", "--schemas", str(core_catalog), "--skip", "MetricTemplate", "--strict", cwd=tree,
                   env=env)
    assert proc.returncode == 2


def test_a_catalog_asked_for_but_missing_says_how_to_make_one(tree: Path, run_cli: Run) -> None:
    """Without --schemas the shipped schemas are used (tests/validate/test_offline_schemas.py); a catalog the user
    names that is not there is an error saying where it was looked for."""
    proc = run_cli("validate", "--schemas", str(tree / "nope"), cwd=tree)
    assert proc.returncode == 1
    assert "(--schemas)" in proc.stderr and "rollouts schemas build" in proc.stderr


def test_schemas_build_writes_the_default_catalog(tmp_path: Path, run_cli: Run, shared: Path) -> None:
    proc = run_cli("schemas", "build", "--root", str(tmp_path), "--kubernetes-version", "1.33",
                   "--crds", str(shared / "crds" / "flagger"), env={"ROLLOUTS_SCHEMAS": ""})
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / ".rollouts" / "schemas"
    index = json.loads((out / "catalog.json").read_text())
    assert [s["type"] for s in index["sources"]] == ["kubernetes-validate", "crds"]
    assert index["sources"][0]["kubernetesVersion"] == "1.33.0"
    assert (out / "flagger.app" / "canary_v1beta1.json").is_file()
    assert f"wrote {index['schemas']} schemas to {out}" in proc.stderr
    proc = run_cli("schemas", "build", "--out", str(tmp_path / "x"), "--kubernetes-version", "1.2")
    assert proc.returncode == 1 and "error: kubernetes-validate has no schemas for Kubernetes 1.2" in proc.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server on 127.0.0.1 serving tmp/www (no network)."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()


def _pins(path: Path, entries: list[tuple[str, str, str]]) -> Path:
    path.write_text(json.dumps({"pins": [{"name": n, "url": u, "sha256": s} for n, u, s in entries]}))
    return path


def test_schemas_fetch_checks_the_pins(tmp_path: Path, served: tuple[str, Path], run_cli: Run,
                                       shared: Path) -> None:
    base, www = served
    shutil.copy(shared / "crds" / "flagger" / "crd.yaml", www / "crd.yaml")
    shutil.copy(shared / "crds" / "linkerd" / "helm-templates" / "server.yaml.tpl", www / "server.yaml")
    digest = {n: hashlib.sha256((www / n).read_bytes()).hexdigest() for n in ("crd.yaml", "server.yaml")}
    pins = _pins(tmp_path / "pins.json", [("flagger/crd.yaml", f"{base}/crd.yaml", digest["crd.yaml"]),
                                          ("linkerd/server.yaml.tpl", f"{base}/server.yaml", digest["server.yaml"])])
    proc = run_cli("schemas", "fetch", "--root", str(tmp_path), "--pins", str(pins), "--kubernetes-version",
                   "1.34", env={"ROLLOUTS_SCHEMAS": ""})
    assert proc.returncode == 0, proc.stderr
    assert "fetched 2 file(s), 0 already current" in proc.stderr
    out = tmp_path / ".rollouts" / "schemas"
    assert (out / "flagger.app" / "canary_v1beta1.json").is_file()
    assert (out / "policy.linkerd.io" / "server_v1beta3.json").is_file()
    assert (out / "apps" / "deployment_v1.json").is_file()
    # a second run keeps what matches its pin
    proc = run_cli("schemas", "fetch", "--root", str(tmp_path), "--pins", str(pins), env={"ROLLOUTS_SCHEMAS": ""})
    assert "fetched 0 file(s), 2 already current" in proc.stderr
    # a changed upstream file is refused and not written
    (www / "other.yaml").write_text((www / "crd.yaml").read_text() + "# tampered\n")
    bad = _pins(tmp_path / "bad.json", [("other/crd.yaml", f"{base}/other.yaml", digest["crd.yaml"])])
    proc = run_cli("schemas", "fetch", "--root", str(tmp_path), "--pins", str(bad), env={"ROLLOUTS_SCHEMAS": ""})
    assert proc.returncode == 1
    assert f"does not match the pin {digest['crd.yaml']}" in proc.stderr
    assert not (tmp_path / ".rollouts" / "crds" / "other").exists()
    assert (tmp_path / ".rollouts" / "crds" / "flagger" / "crd.yaml").is_file()


def test_fetch_from_a_file_url_and_unreachable(tmp_path: Path) -> None:
    src = tmp_path / "crd.yaml"
    src.write_text("kind: CustomResourceDefinition\n")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    pins = _pins(tmp_path / "pins.json", [("a/crd.yaml", src.as_uri(), digest)])
    report = fetch(str(tmp_path / "out"), str(pins))
    assert report.fetched == ["a/crd.yaml"]
    assert report.crd_files == [str(tmp_path / "out" / "crds" / "a" / "crd.yaml")]
    assert (tmp_path / "out" / "crds" / "a" / "crd.yaml").read_bytes() == src.read_bytes()
    gone = _pins(tmp_path / "gone.json", [("b/crd.yaml", (tmp_path / "missing.yaml").as_uri(), digest)])
    with pytest.raises(RolloutsError, match="cannot download") as e:
        fetch(str(tmp_path / "out"), str(gone))
    assert "offline" in e.value.hint
    escape = _pins(tmp_path / "escape.json", [("../x.yaml", src.as_uri(), digest)])
    with pytest.raises(RolloutsError, match="leaves the output directory"):
        fetch(str(tmp_path / "out"), str(escape))


def test_builtin_pins_are_well_formed() -> None:
    from rollouts.catalog.fetch import load_pins

    pins = load_pins()
    assert len(pins) == 22  # with the PrometheusRule CRD of the SLO rules
    assert all(p["url"].startswith("https://raw.githubusercontent.com/") for p in pins)
    assert all(len(p["url"].split("/")[5]) == 40 for p in pins)  # commit-pinned, not a branch


def test_check_runs_lint_render_check_and_validate(tmp_path: Path, run_cli: Run, catalog: Path,
                                                   tool: Callable[[str], str]) -> None:
    for name in ("kubeconform", "kustomize", "promtool"):
        tool(name)
    project, _ = render_examples(tmp_path)
    skips = [a for k in SKIP for a in ("--skip", k)]
    proc = run_cli("check", "--schemas", str(catalog), *skips, "--format", "json", cwd=project.root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # clean, but it says which files flux bootstrap writes and validate stood in for
    assert [(f["rule"], f["severity"]) for f in json.loads(proc.stdout)] == [("kustomize-bootstrap-files", "info")]
    canary = next(Path(project.root, "flux").rglob("canary.yaml"))
    canary.write_text(canary.read_text().replace("threshold:", "threshold: 1\n    thresholdd:", 1))
    proc = run_cli("check", "--schemas", str(catalog), *skips, "--format", "json", cwd=project.root)
    assert proc.returncode == 1
    rules = sorted({f["rule"] for f in json.loads(proc.stdout)})
    assert rules == ["kustomize-bootstrap-files", "render-drift", "schema-violation"]
    assert any(f["path"].endswith("/thresholdd") for f in json.loads(proc.stdout))
    assert os.path.isfile(canary)


def test_validate_maps_back_to_the_spec_through_an_in_memory_render(tmp_path: Path, run_cli: Run, catalog: Path,
                                                                     tool: Callable[[str], str]) -> None:
    tool("kubeconform")
    project, result = render_examples(tmp_path)
    canary = Path(project.root, "flux", "apps", "production", "checkout", "canary.yaml")
    text = canary.read_text()
    assert "\n    threshold: 2\n" in text
    canary.write_text(text.replace("\n    threshold: 2\n", '\n    threshold: "2"\n', 1))
    skips = [a for k in SKIP for a in ("--skip", k)]
    proc = run_cli("validate", "--schemas", str(catalog), *skips, "--no-promql", "--no-kustomize", "--format",
                   "json", cwd=project.root)
    assert proc.returncode == 1
    (finding,) = json.loads(proc.stdout)
    origin = result.origins["Canary/shop/checkout"]["/spec/analysis/threshold"]
    assert (finding["file"], finding["line"], finding["column"]) == tuple(origin)
    assert finding["file"] == "services/checkout/rollouts.yaml"
    spec = Path(project.root, finding["file"]).read_text().splitlines()
    assert spec[finding["line"] - 1].strip().startswith("threshold:")
    assert finding["path"] == "/spec/analysis/threshold"
    assert "rendered at flux/apps/production/checkout/canary.yaml:" in finding["message"]


def test_fetch_a_pinned_catalog_archive(tmp_path: Path, served: tuple[str, Path], run_cli: Run) -> None:
    import io
    import tarfile

    base, www = served
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name: str, data: bytes, kind: bytes = tarfile.REGTYPE) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.type = len(data), kind
            tar.addfile(info, io.BytesIO(data))
        add("repo-abc/README.md", b"not part of the catalog")
        add("repo-abc/catalog/latest/example.com/widget_v1.json", b'{"type": "object", "required": ["spec"]}')
        add("repo-abc/catalog/latest/../../../escape.json", b"{}")
        link = tarfile.TarInfo("repo-abc/catalog/latest/core/link_v1.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (www / "catalog.tar.gz").write_bytes(buf.getvalue())
    pins = _pins(tmp_path / "pins.json", [])
    pins.write_text(json.dumps({"pins": [{"name": "flux-schema", "url": f"{base}/catalog.tar.gz",
                                          "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                                          "catalog": "repo-abc/catalog/latest"}]}))
    proc = run_cli("schemas", "fetch", "--root", str(tmp_path), "--pins", str(pins), env={"ROLLOUTS_SCHEMAS": ""})
    assert proc.returncode == 0, proc.stderr
    extracted = tmp_path / ".rollouts" / "catalogs" / "flux-schema"
    assert sorted(str(p.relative_to(extracted)) for p in extracted.rglob("*") if p.is_file()) == [
        "example.com/widget_v1.json"]
    assert not list(tmp_path.rglob("escape.json"))
    assert (tmp_path / ".rollouts" / "schemas" / "example.com" / "widget_v1.json").is_file()
    assert (tmp_path / ".rollouts" / "schemas" / "apps" / "deployment_v1.json").is_file()
