"""Bad input, each through a fresh `rollouts lint` process: a finding at its place, exit 1, no traceback; the
alias bomb and the 50 MB file also within 200 MB of peak memory (their time is measured by bench/bad_input.py, not
here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rollouts.lint import lint_spec
from rollouts.project import Project
from rollouts.spec.load import parse

HEADER = "apiVersion: rollouts/v1alpha1\nkind: ServiceRollout\n"
GOOD = (HEADER + "metadata: {name: web, namespace: shop, owner: team-web}\n"
        "spec:\n  workload: {steadyTraffic: true}\n  strategy: {type: canary, steps: [10, 50]}\n")

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
) + "\n"

CASES = {
    # id: (file content, expected "location: severity: ... (rule)" prefix and rule)
    "malformed-yaml": (HEADER + "metadata: {name: web\nspec: {}\n", "rollouts.yaml:4:5", "yaml-syntax"),
    "tab-indent": (HEADER + "metadata:\n\tname: web\n", "rollouts.yaml:4:1", "yaml-tab"),
    "duplicate-key": (HEADER + "kind: ServiceRollout\n", "rollouts.yaml:3:1", "yaml-duplicate-key"),
    "unknown-key": (GOOD.replace("strategy:", "stratgy: {}\n  strategy:"), "rollouts.yaml:6:3", "schema-unknown-key"),
    "wrong-type": (GOOD.replace("steps: [10, 50]", "steps: 10"), "rollouts.yaml:6:35", "schema-type"),
    "alias-bomb": (BILLION_LAUGHS, "rollouts.yaml:1:1", "yaml-alias-bomb"),
    "non-utf8": (HEADER.encode() + b"metadata: {name: w\xffb}\n", "rollouts.yaml:3:19", "file-encoding"),
    "binary": (bytes(range(256)) * 16, "rollouts.yaml:1:1", "file-binary"),
    "empty": ("", "rollouts.yaml:1:1", "file-empty"),
    "comments-only": ("# nothing here yet\n", "rollouts.yaml:1:1", "file-empty"),
    "top-level-list": ("- " + HEADER.replace("\n", "\n  ", 1), "rollouts.yaml:1:1", "spec-not-mapping"),
    "name-with-slash": (GOOD.replace("name: web", "name: shop/web"), "rollouts.yaml:3:18", "schema-value"),
    "name-with-dotdot": (GOOD.replace("name: web", "name: ../web"), "rollouts.yaml:3:18", "schema-value"),
    "deep-brackets": (HEADER + "metadata: " + "[" * 5000 + "]" * 5000 + "\n", "rollouts.yaml:3:75", "yaml-nesting"),
    "multiple-documents": (GOOD + "---\n" + GOOD, "rollouts.yaml:7:1", "yaml-multiple-documents"),
}


def _write(path, content):
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(path, mode) as fh:
        fh.write(content)


def _assert_clean_failure(done, location, rule):
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"{location}: error: "), done.stdout
    assert first.endswith(f"({rule})"), done.stdout
    hint = done.stdout.splitlines()[1] if len(done.stdout.splitlines()) > 1 else ""
    assert hint.startswith("  hint: ") and hint.strip() not in ("hint:", "hint: ."), done.stdout  # how to fix it


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_a_finding(run_cli, tmp_path, case):
    content, location, rule = CASES[case]
    _write(tmp_path / "rollouts.yaml", content)
    done = run_cli("lint", "rollouts.yaml", cwd=tmp_path)
    _assert_clean_failure(done, location, rule)


# Runs `rollouts lint` as a child of a small Python process, which reports the child's peak RSS and wall time:
# measured in a process of its own so that no other test's children count.
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
elapsed = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
                  "seconds": elapsed, "peak_mib": peak_kib / 1024}))
"""


def _measured(tmp_path, *args):
    rollouts = os.path.join(os.path.dirname(sys.executable), "rollouts")
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("GITHUB_ACTIONS", None)
    out = subprocess.run([sys.executable, "-c", MEASURE, rollouts, *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(out.stdout)
    return subprocess.CompletedProcess(args, report["rc"], report["stdout"], report["stderr"]), report


def test_alias_bomb_is_bounded(tmp_path):
    _write(tmp_path / "rollouts.yaml", BILLION_LAUGHS)
    done, report = _measured(tmp_path, "lint", "rollouts.yaml")
    _assert_clean_failure(done, "rollouts.yaml:1:1", "yaml-alias-bomb")
    assert report["peak_mib"] < 200, report


def test_fifty_megabyte_file_is_bounded(tmp_path):
    line = "# " + "padding " * 9 + "\n"
    with open(tmp_path / "rollouts.yaml", "w") as fh:
        fh.write(GOOD)
        fh.write(line * (50 * 1024 * 1024 // len(line)))
    assert os.path.getsize(tmp_path / "rollouts.yaml") >= 50 * 1000 * 1000
    done, report = _measured(tmp_path, "lint", "rollouts.yaml")
    _assert_clean_failure(done, "rollouts.yaml", "file-too-large")
    assert report["peak_mib"] < 200, report


def test_largest_allowed_file_is_bounded(tmp_path):
    """Just under the size limit, a real spec with huge chart values still lints within 200 MB (its time, linear in
    the size, is measured by bench/bad_input.py)."""
    head = GOOD.replace("  workload: {steadyTraffic: true}\n", "  workload:\n    steadyTraffic: true\n    values:\n")
    lines, size, i = [], len(head), 0
    while size < 127 * 1024:
        lines.append(f"      key{i}: value-{i}\n")
        size += len(lines[-1])
        i += 1
    text = head.replace("    values:\n", "    values:\n" + "".join(lines))
    assert 120 * 1024 < len(text) <= 128 * 1024
    _write(tmp_path / "rollouts.yaml", text)
    done, report = _measured(tmp_path, "lint", "rollouts.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report["peak_mib"] < 200, report


def _repository_with_escaping_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    _write(outside / "rollouts.yaml", GOOD.replace("name: web", "name: checkout"))
    repo = tmp_path / "repo"
    (repo / "services").mkdir(parents=True)
    os.symlink(outside, repo / "services" / "checkout")
    return repo


def test_services_entry_symlinked_out_of_the_repository(run_cli, tmp_path):
    repo = _repository_with_escaping_symlink(tmp_path)
    done = run_cli("lint", cwd=repo)
    _assert_clean_failure(done, "services/checkout", "path-outside-repository")
    assert "outside the repository" in done.stdout


def test_file_reached_through_an_escaping_symlink(run_cli, tmp_path):
    repo = _repository_with_escaping_symlink(tmp_path)
    done = run_cli("lint", "services/checkout/rollouts.yaml", cwd=repo)
    _assert_clean_failure(done, "services/checkout/rollouts.yaml", "path-outside-repository")


def test_missing_file_and_directory(run_cli, tmp_path):
    done = run_cli("lint", "nope.yaml", cwd=tmp_path)
    _assert_clean_failure(done, "nope.yaml", "file-unreadable")
    done = run_cli("lint", ".", cwd=tmp_path)
    _assert_clean_failure(done, ".", "file-unreadable")

YAMLISH = st.text(alphabet=st.sampled_from([*"ab:-[]{}&*!|>'\"#\t\n ,?%@`0123456789.", "\u00e9", "\x85"]),
                  max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), YAMLISH.map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_any_bytes_give_findings_never_an_exception(raw):
    spec, findings = parse(raw, "rollouts.yaml")
    if spec is None:
        assert findings and all(f.file == "rollouts.yaml" and f.line >= 0 for f in findings)
    else:
        lint_spec(spec, Project("."))

