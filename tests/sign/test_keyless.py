"""Keyless signing up to the network: the ambient GitHub OIDC identity (a fake token endpoint on loopback) and a
Fulcio that is unreachable or broken (fakes on 127.0.0.1) give a clear error, never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from rollouts.errors import RolloutsError
from rollouts.sign import ambient_identity_token, sign_tree

SUBJECT = "repo:acme/gitops:ref:refs/heads/main"


def fake_jwt(audience: str = "sigstore") -> str:
    now = int(time.time())
    return jwt.encode({"iss": "https://token.actions.githubusercontent.com", "aud": audience, "sub": SUBJECT,
                       "iat": now, "exp": now + 300}, "k" * 32, algorithm="HS256")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _FakeServer(HTTPServer):
    requests_seen: list[str]


@pytest.fixture
def fake_http() -> Iterator[Callable[[int, bytes], tuple[str, list[str]]]]:
    """Start a loopback HTTP server answering every request with (status, body); returns (base URL, paths seen)."""
    servers: list[_FakeServer] = []

    def start(status: int, body: bytes) -> tuple[str, list[str]]:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.server.requests_seen.append(self.path)  # type: ignore[attr-defined]
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        server = _FakeServer(("127.0.0.1", 0), Handler)
        server.requests_seen = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server.requests_seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# The signing path fails at Fulcio before it reads the root of trust, so an empty trusted root will do.
EMPTY_TRUSTED_ROOT = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [],
                      "certificateAuthorities": [], "ctlogs": [], "timestampAuthorities": []}


def trust_config(tmp_path: Path, fulcio: str) -> str:
    """A ClientTrustConfig: an empty trusted root with every service URL on a loopback fake."""

    def service(url: str) -> list[dict[str, object]]:
        return [{"url": url, "majorApiVersion": 1, "operator": "fake", "validFor": {"start": "2020-01-01T00:00:00Z"}}]

    dead = f"http://127.0.0.1:{free_port()}"
    doc = {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
           "trustedRoot": EMPTY_TRUSTED_ROOT,
           "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                             "caUrls": service(fulcio), "oidcUrls": service(dead), "rekorTlogUrls": service(dead),
                             "tsaUrls": service(dead + "/api/v1/timestamp"),
                             "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}}}
    path = tmp_path / "fake-trust-config.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_unreachable_fulcio_is_a_clear_error(small_tree: Path, tmp_path: Path) -> None:
    fulcio = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    with pytest.raises(RolloutsError) as info:
        sign_tree(str(small_tree), str(small_tree.parent), identity_token=fake_jwt(),
                  trust_config=trust_config(tmp_path, fulcio))
    assert "keyless signing failed: cannot reach the Sigstore services" in info.value.message
    assert fulcio in info.value.message
    assert "--key" in info.value.hint
    assert not (small_tree.parent / "flux.sigstore.json").exists()


def test_broken_fake_fulcio_is_a_clear_error(small_tree: Path, tmp_path: Path,
                                             fake_http: Callable[[int, bytes], tuple[str, list[str]]]) -> None:
    fulcio, seen = fake_http(503, b'{"error": "fake fulcio is down"}')
    with pytest.raises(RolloutsError, match="keyless signing failed"):
        sign_tree(str(small_tree), str(small_tree.parent), identity_token=fake_jwt(),
                  trust_config=trust_config(tmp_path, fulcio))
    assert seen == ["/api/v2/signingCert"]  # it really asked the (fake) Fulcio for a certificate


def test_ambient_github_identity_then_unreachable_fulcio_via_cli(
        run_cli: Callable[..., subprocess.CompletedProcess[str]], small_tree: Path, tmp_path: Path,
        fake_http: Callable[[int, bytes], tuple[str, list[str]]]) -> None:
    token_url, seen = fake_http(200, json.dumps({"value": fake_jwt()}).encode())
    env = {"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "fake-request-token",
           "ACTIONS_ID_TOKEN_REQUEST_URL": f"{token_url}/token?api-version=2.0"}
    fulcio = f"http://127.0.0.1:{free_port()}"
    # run_cli drops GITHUB_ACTIONS from the environment; put it back through a wrapper environment
    import os
    import sys

    out = subprocess.run([str(Path(sys.executable).parent / "rollouts"), "sign", "--trust-config",
                          trust_config(tmp_path, fulcio)], cwd=small_tree.parent,
                         env={**os.environ, **env, "NO_COLOR": "1"}, text=True, capture_output=True, timeout=120,
                         check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "error: keyless signing failed: cannot reach the Sigstore services" in out.stderr
    assert "Traceback" not in out.stderr
    assert seen and seen[0].startswith("/token?api-version=2.0&audience=sigstore")
    assert "fake-request-token" not in out.stdout + out.stderr


def test_ambient_detection(monkeypatch: pytest.MonkeyPatch,
                           fake_http: Callable[[int, bytes], tuple[str, list[str]]]) -> None:
    assert ambient_identity_token() is None  # outside CI
    token = fake_jwt()
    url, _ = fake_http(200, json.dumps({"value": token}).encode())
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "x")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{url}/token?api-version=2.0")
    assert ambient_identity_token() == token


def test_github_without_id_token_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(RolloutsError, match="cannot get the ambient OIDC identity token") as info:
        ambient_identity_token()
    assert "id-token: write" in info.value.hint


def test_token_for_wrong_audience(small_tree: Path, tmp_path: Path) -> None:
    with pytest.raises(RolloutsError, match="not usable for Sigstore") as info:
        sign_tree(str(small_tree), str(small_tree.parent), identity_token=fake_jwt("someone-else"),
                  trust_config=trust_config(tmp_path, "http://127.0.0.1:9"))
    assert "audience `sigstore`" in info.value.hint
