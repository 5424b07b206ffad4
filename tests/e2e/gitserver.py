"""Git repositories served over smart HTTP on 127.0.0.1: ``git http-backend`` behind a threaded Python server.

Push is enabled (``http.receivepack``), so clients (``rollouts commit --repo URL``, plain ``git push``) and Flux's
source-controller talk to it exactly as to a real Git host, without credentials.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes:
    """The body of a ``Transfer-Encoding: chunked`` request (git sends large packs that way)."""
    body = bytearray()
    while True:
        size = int(handler.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        body += handler.rfile.read(size)
        handler.rfile.readline()  # the CRLF after each chunk


class _Backend(BaseHTTPRequestHandler):
    """One request -> one ``git http-backend`` run (CGI/1.1), its output relayed as the response."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = _read_chunked(self)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.server.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        for header in ("Content-Encoding", "Git-Protocol", "Accept"):
            if header in self.headers:
                env["HTTP_" + header.upper().replace("-", "_")] = self.headers[header]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False,
                             timeout=300)
        head, sep, payload = out.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, _, payload = out.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if out.returncode != 0 and not head:
            status, payload = 500, out.stderr
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.server.requests.append(f"{self.command} {self.path} {status}")

    def log_message(self, format: str, *args: object) -> None:
        """Requests are kept in ``server.requests`` instead of being printed."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: str) -> None:
        super().__init__(("127.0.0.1", 0), _Backend)
        self.root = root
        self.requests: list[str] = []


class GitServer:
    """Bare repositories under ``root``, served at ``http://127.0.0.1:<free port>/<name>.git``.

    Use as a context manager; ``create(name)`` makes an empty repository with push enabled and returns its URL.
    """

    def __init__(self, root: str) -> None:
        if shutil.which("git") is None:
            raise RuntimeError("git is not installed")
        self.root = os.path.abspath(root)
        os.makedirs(self.root, exist_ok=True)
        self._server = _Server(self.root)
        self._thread = threading.Thread(target=self._server.serve_forever, name="git-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def path(self, name: str) -> str:
        return os.path.join(self.root, f"{name}.git")

    def create(self, name: str, branch: str = "main") -> str:
        path = self.path(name)
        subprocess.run(["git", "init", "-q", "--bare", f"--initial-branch={branch}", path], check=True)
        subprocess.run(["git", f"--git-dir={path}", "config", "http.receivepack", "true"], check=True)
        return self.url(name)

    def head(self, name: str, branch: str = "main") -> str:
        """The commit the branch points to in the served repository ('' when it has none)."""
        out = subprocess.run(["git", f"--git-dir={self.path(name)}", "rev-parse", "-q", "--verify",
                              f"refs/heads/{branch}"], capture_output=True, text=True, check=False)
        return out.stdout.strip()

    def start(self) -> GitServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> GitServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
