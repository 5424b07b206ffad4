"""The Kubernetes API, reached with httpx: credentials in the cluster or from a kubeconfig, and small REST calls.

The controller keeps its operator state in a ConfigMap and checks operators' tokens with TokenReview and
SubjectAccessReview, so it needs only these few calls; a full client library would be a heavy dependency for that.
Credentials come from the pod's service account (token re-read on every request: bound tokens are rotated) or from
a kubeconfig (client certificate and key, or a token), the way kubectl reads them. No credential is ever logged or
put in an error message: errors name the server and the HTTP status, never a header.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import subprocess
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..errors import RolloutsError

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TIMEOUT = 5.0


class KubeError(RolloutsError):
    """The Kubernetes API could not be reached, refused a request, or answered something unreadable."""

    def __init__(self, message: str, hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """Where the API server is and how to prove who we are. ``token_file`` is read on every request."""

    server: str
    ca_file: str | None = None
    ca_data: str | None = None  # PEM text
    cert_pem: bytes | None = None  # client certificate (PEM) ...
    key_pem: bytes | None = None  # ... and its key
    token: str | None = None
    token_file: str | None = None
    insecure: bool = False

    def __repr__(self) -> str:  # never print a token or a key
        return f"Credentials(server={self.server!r})"


def in_cluster(directory: str = SERVICE_ACCOUNT_DIR) -> Credentials:
    """The pod's service account: KUBERNETES_SERVICE_HOST/PORT and the token and CA mounted in ``directory``."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token = Path(directory) / "token"
    if not host or not token.is_file():
        raise KubeError("not running in a Kubernetes pod (no KUBERNETES_SERVICE_HOST or service account token)",
                        "pass --kubeconfig, or run the controller with a service account")
    host = f"[{host}]" if ":" in host else host
    return Credentials(server=f"https://{host}:{port}", ca_file=str(Path(directory) / "ca.crt"),
                       token_file=str(token))


def from_kubeconfig(path: str | None = None, context: str | None = None) -> Credentials:
    """A context of a kubeconfig (default: $KUBECONFIG's first file, else ~/.kube/config; its current-context)."""
    file = path or (os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or os.path.expanduser("~/.kube/config"))
    try:
        config = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise KubeError(f"cannot read kubeconfig {file}: {type(e).__name__}", "pass --kubeconfig FILE") from None
    if not isinstance(config, dict):
        raise KubeError(f"kubeconfig {file} is not a mapping")
    name = context or config.get("current-context")
    ctx = _named(config, "contexts", name, file).get("context") or {}
    cluster = _named(config, "clusters", ctx.get("cluster"), file).get("cluster") or {}
    user = (_named(config, "users", ctx.get("user"), file).get("user") or {}) if ctx.get("user") else {}
    base = Path(file).parent

    def read(field: str) -> bytes | None:
        if user.get(f"{field}-data"):
            return base64.b64decode(user[f"{field}-data"])
        if user.get(field):
            return (base / os.path.expanduser(str(user[field]))).read_bytes()
        return None

    ca = cluster.get("certificate-authority")
    ca_data = cluster.get("certificate-authority-data")
    try:
        cert, key = read("client-certificate"), read("client-key")
        token_file = str(base / user["tokenFile"]) if user.get("tokenFile") else None
    except OSError as e:
        raise KubeError(f"kubeconfig {file}: cannot read a credential file: {e.strerror}") from None
    if not cluster.get("server"):
        raise KubeError(f"kubeconfig {file}: cluster {ctx.get('cluster')!r} has no server")
    token = user.get("token")
    if isinstance(user.get("exec"), dict) and not (token or token_file or cert):
        token, cert, key = exec_credential(user["exec"], file)
    return Credentials(server=str(cluster["server"]).rstrip("/"), ca_file=str(base / ca) if ca else None,
                       ca_data=base64.b64decode(ca_data).decode() if ca_data else None, cert_pem=cert, key_pem=key,
                       token=token, token_file=token_file, insecure=bool(cluster.get("insecure-skip-tls-verify")))


def exec_credential(plugin: dict[str, Any], file: str) -> tuple[str | None, bytes | None, bytes | None]:
    """Run a kubeconfig's credential plugin (``users[].user.exec``, as kubectl does for EKS, GKE, OIDC logins):
    its ExecCredential's ``status`` gives a token or a client certificate and key. Not interactive."""
    command = [str(plugin.get("command") or ""), *(str(a) for a in plugin.get("args") or [])]
    info = {"apiVersion": plugin.get("apiVersion") or "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "spec": {"interactive": False}}
    env = {**os.environ, **{str(e["name"]): str(e["value"]) for e in plugin.get("env") or [] if "name" in e},
           "KUBERNETES_EXEC_INFO": json.dumps(info)}
    try:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise KubeError(f"kubeconfig {file}: the credential plugin {command[0]!r} did not run ({type(e).__name__})",
                        "check users[].user.exec in the kubeconfig, or log in again") from None
    try:
        status = (json.loads(done.stdout).get("status") or {}) if done.returncode == 0 else None
    except (ValueError, AttributeError):
        status = None
    if not isinstance(status, dict):
        raise KubeError(f"kubeconfig {file}: the credential plugin {command[0]!r} gave no credential "
                        f"(exit {done.returncode})", "run it by hand to see why, or log in again")
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    return (status.get("token") or None, cert.encode() if cert else None, key.encode() if key else None)


def _named(config: dict[str, Any], section: str, name: Any, file: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise KubeError(f"kubeconfig {file}: no {section[:-1]} named {name!r}", "pass --context NAME")


def ssl_context(creds: Credentials) -> ssl.SSLContext:
    """Verify the API server against its CA (the system's when none is given) and present the client certificate."""
    context = ssl.create_default_context(cafile=creds.ca_file, cadata=creds.ca_data)
    if creds.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if creds.cert_pem and creds.key_pem:
        with _private_files(creds.cert_pem, creds.key_pem) as (cert, key):
            context.load_cert_chain(cert, key)
    return context


@contextlib.contextmanager
def _private_files(*contents: bytes) -> Generator[list[str], None, None]:
    """ssl loads a key pair from files only: write them to a private temporary directory, gone on exit."""
    with tempfile.TemporaryDirectory(prefix="rollouts-kube-") as directory:
        paths = []
        for i, data in enumerate(contents):
            path = os.path.join(directory, str(i))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            paths.append(path)
        yield paths


class _BearerToken(httpx.Auth):
    """The token, or the token file read on every request (the kubelet rotates projected tokens)."""

    def __init__(self, creds: Credentials) -> None:
        self._token, self._file = creds.token, creds.token_file

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token
        if self._file:
            try:
                token = Path(self._file).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise KubeError(f"cannot read the service account token: {e.strerror}") from None
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


def client(creds: Credentials, timeout: float = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    """An async client for the API server of ``creds``, with a timeout on every call."""
    return httpx.AsyncClient(base_url=creds.server, verify=ssl_context(creds), auth=_BearerToken(creds),
                             timeout=timeout, headers={"Accept": "application/json"}, trust_env=False)


async def request(http: httpx.AsyncClient, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """One API call: (status, JSON body). Network errors and timeouts are KubeError; HTTP errors are returned."""
    try:
        response = await http.request(method, path, json=body)
    except httpx.TimeoutException:
        raise KubeError(f"the Kubernetes API at {http.base_url} did not answer in time") from None
    except httpx.TransportError as e:
        raise KubeError(f"the Kubernetes API at {http.base_url} is unreachable ({type(e).__name__})") from None
    try:
        data = response.json() if response.content else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return response.status_code, data


def refusal(status: int, data: dict[str, Any], what: str) -> KubeError:
    """A KubeError for an HTTP error: the API's own Status message (names the user and verb, holds no secret)."""
    message = str(data.get("message") or data.get("reason") or "no message")
    hints = {401: "the credentials were not accepted: check --kubeconfig/--context",
             403: "ask for RBAC on this object (see docs/controller.md, Operator actions)"}
    return KubeError(f"the Kubernetes API refused to {what} ({status}): {message}", hints.get(status, ""), status)


async def whoami(http: httpx.AsyncClient) -> str | None:
    """The username the API server sees for these credentials (SelfSubjectReview, GA since Kubernetes 1.28), None
    when the server does not offer it."""
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    status, data = await request(http, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", review)
    if status not in (200, 201):
        return None
    name = ((data.get("status") or {}).get("userInfo") or {}).get("username")
    return str(name) if name else None
