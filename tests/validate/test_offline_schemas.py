"""The package ships the JSON Schemas of the CRD kinds the rendered tree uses (generator/catalog/shipped, made by
scripts/build-schemas from the pinned upstream CRDs): `rollouts validate` works on a fresh clone with neither
../shared nor the network nor a `.rollouts/schemas` catalog."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from rollouts.catalog import SHIPPED_DIR

ROOT = Path(__file__).resolve().parent.parent.parent
ROLLOUTS = Path(sys.executable).parent / "rollouts"
SHIPPED = Path(SHIPPED_DIR)


def _copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "rollouts.project.yaml", repo / "rollouts.project.yaml")
    for folder in ("flux", "services"):
        shutil.copytree(ROOT / folder, repo / folder)
    return repo


def _validate(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ROLLOUTS_SCHEMAS",)}
    env["ROLLOUTS_SHARED"] = str(tmp_path / "no-such-shared")
    return subprocess.run([str(ROLLOUTS), "validate"], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300)


def test_validate_works_with_no_shared_dir_and_no_catalog(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    assert not (repo / ".rollouts").exists()
    out = _validate(repo, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 error(s)" in out.stdout + out.stderr
    assert "no schema catalog" not in out.stdout + out.stderr
    # the shipped schemas plus the core kinds, marked as such (`schemas build`/`fetch` replace it)
    index = json.loads((repo / ".rollouts" / "schemas" / "catalog.json").read_text())
    assert index["shipped"] and (repo / ".rollouts" / "schemas" / "flagger.app" / "canary_v1beta1.json").is_file()


def test_a_catalog_the_user_built_comes_first(tmp_path: Path) -> None:
    from rollouts.catalog import catalog_dir
    from rollouts.catalog.build import build

    repo = _copy(tmp_path)
    build(str(repo / ".rollouts" / "schemas"), "1.34")  # core kinds only: every CRD kind is then unknown
    out = _validate(repo, tmp_path)
    assert out.returncode == 1 and "no schema for Canary (flagger.app/v1beta1)" in out.stdout
    assert "shipped" not in json.loads((repo / ".rollouts" / "schemas" / "catalog.json").read_text())
    assert catalog_dir(str(repo)) == str(repo / ".rollouts" / "schemas")


def test_a_stale_shipped_catalog_is_rebuilt(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    assert _validate(repo, tmp_path).returncode == 0
    index_file = repo / ".rollouts" / "schemas" / "catalog.json"
    index = json.loads(index_file.read_text())
    index_file.write_text(json.dumps({**index, "shipped": "from-an-older-release"}))
    (repo / ".rollouts" / "schemas" / "flagger.app" / "canary_v1beta1.json").unlink()
    out = _validate(repo, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (repo / ".rollouts" / "schemas" / "flagger.app" / "canary_v1beta1.json").is_file()


def test_shipped_schemas_check_the_crd_kinds_cert_manager_included(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    project = repo / "rollouts.project.yaml"
    data = yaml.safe_load(project.read_text())
    assert "skip" not in (data.get("validate") or {})  # cert-manager and trust-manager kinds have shipped schemas
    project.write_text(yaml.safe_dump(data))
    canary = repo / "flux" / "apps" / "production" / "frontend" / "canary.yaml"
    canary.write_text(canary.read_text().replace("\nspec:\n", "\nspec:\n  bogusField: 1\n", 1))
    out = _validate(repo, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "/spec: unknown field 'bogusField' (additional properties not allowed)" in out.stdout
    assert "1 error(s)" in out.stdout + out.stderr
    assert "schema-missing" not in out.stdout


def test_shipped_set_is_the_crd_kinds_the_tree_renders() -> None:
    rendered: set[str] = set()
    for path in (ROOT / "flux").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and "/" in str(doc.get("apiVersion")) and doc["apiVersion"].split("/")[0] in {
                    d.name for d in SHIPPED.iterdir() if d.is_dir()}:
                group, version = doc["apiVersion"].split("/")
                rendered.add(f"{group}/{doc['kind'].lower()}_{version}.json")
    shipped = {str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*_*.json")}
    assert rendered <= shipped, rendered - shipped
    # what else is shipped: the kinds the generator renders for other settings (Gateway API routes, Linkerd
    # NetworkAuthentication and HTTPRoute, policy-controller's ClusterImagePolicy when the project sets admission:)
    assert shipped - rendered <= {"gateway.networking.k8s.io/httproute_v1.json",
                                  "policy.sigstore.dev/clusterimagepolicy_v1alpha1.json",
                                  "gateway.networking.k8s.io/gateway_v1.json",
                                  "policy.linkerd.io/networkauthentication_v1alpha1.json",
                                  "policy.linkerd.io/httproute_v1beta3.json"}


def test_build_schemas_reproduces_the_shipped_files(tmp_path: Path, shared: Path) -> None:
    out = tmp_path / "shipped"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build-schemas"), "--shared", str(shared),
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    made = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    shipped = {str(p.relative_to(SHIPPED)): p.read_bytes() for p in SHIPPED.rglob("*") if p.is_file()}
    assert sorted(made) == sorted(shipped)
    assert [name for name in made if made[name] != shipped[name]] == []


def test_manifest_records_the_source_crd_files(shared: Path) -> None:
    manifest = json.loads((SHIPPED / "manifest.json").read_text())["schemas"]
    listed = {entry["schema"] for entry in manifest}
    assert listed == {str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*_*.json")}
    sources = (shared / "crds" / "SOURCES.md").read_text()
    for entry in manifest:
        data = (shared / "crds" / entry["source"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["source"]
        assert entry["url"].startswith(entry["repository"] + "/blob/" + entry["commit"] + "/")
        assert entry["tag"] in sources and entry["commit"] in sources


def test_the_project_skips_no_kind_whose_schema_ships(tmp_path: Path) -> None:
    """A `validate.skip` of a kind the package has a schema for only hides that kind's errors."""
    skipped = (yaml.safe_load((ROOT / "rollouts.project.yaml").read_text()).get("validate") or {}).get("skip") or []
    shipped = {f"{p.parent.name}/{p.stem.split('_')[1]}/{p.stem.split('_')[0]}" for p in SHIPPED.rglob("*_*.json")}
    assert [k for k in skipped if k.lower() in shipped] == []
    repo = _copy(tmp_path)  # and the tree validates without them: cert-manager and trust-manager kinds included
    out = _validate(repo, tmp_path)
    assert out.returncode == 0 and "schema-missing" not in out.stdout, out.stdout + out.stderr
