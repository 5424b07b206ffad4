"""A real Kubernetes control plane on 127.0.0.1 for the end-to-end suite.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from upstream by ``scripts/e2e-build``, and
kwok for the node and pod readiness a kubelet would report (Stage objects: node initialise and lease heartbeat, pod
ready, job completion, pod deletion). Every process is started in its own session (``setsid``), its PID written to
``<workdir>/pids``, its output to ``<workdir>/logs/<name>.log``; ``stop()`` ends them all by PID.

Out-of-cluster controllers that must reach the in-cluster names the rendered tree uses
(``prometheus.linkerd-viz``, ``flagger-loadtester.flagger-system``, ...) are started with ``hosts=``: they run in
their own mount namespace (``unshare -m``) with an ``/etc/hosts`` that maps those names to loopback addresses.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

T = TypeVar("T")

#: The binaries the control plane itself needs (the rest, e.g. flagger, are asked for with ``bin()``).
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
NODE = "kwok-node-0"
SERVICE_CIDR = "10.96.0.0/16"


def bin_dir() -> Path:
    """Where ``scripts/e2e-build`` puts the binaries: $ROLLOUTS_E2E_BIN, else $ROLLOUTS_E2E_CACHE/bin."""
    if os.environ.get("ROLLOUTS_E2E_BIN"):
        return Path(os.environ["ROLLOUTS_E2E_BIN"])
    cache = os.environ.get("ROLLOUTS_E2E_CACHE") or os.path.expanduser("~/.cache/rollouts/e2e")
    return Path(cache) / "bin"


def find_bin(name: str) -> str | None:
    """A built binary, else one on PATH (prometheus comes from Debian)."""
    candidate = bin_dir() / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))


def _cert(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey, *,
          ca: bool = False, server: bool = False, sans: Sequence[x509.GeneralName] = ()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(cn: str, org: str = "") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def make_pki(pki: Path) -> None:
    """A self-signed CA, the API server's serving cert, an admin client cert (O=system:masters), the SA key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("rollouts-e2e-ca")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    _write_key(pki / "ca.key", ca_key)
    (pki / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                                             "kubernetes.default.svc",
                                                             "kubernetes.default.svc.cluster.local")]
    sans += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("10.96.0.1"))]
    for name, subject, server in (("apiserver", _name("kube-apiserver"), True),
                                  ("admin", _name("admin", "system:masters"), False)):
        key = _key()
        cert = _cert(subject, key, ca_name, ca_key, server=server, sans=sans if server else ())
        _write_key(pki / f"{name}.key", key)
        (pki / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    sa = _key()
    _write_key(pki / "sa.key", sa)
    (pki / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def kubeconfig_text(server: str, pki: Path) -> str:
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: {server}\n"
            f"    certificate-authority: {pki / 'ca.crt'}\nusers:\n- name: admin\n  user:\n"
            f"    client-certificate: {pki / 'admin.crt'}\n    client-key: {pki / 'admin.key'}\n"
            "contexts:\n- name: e2e\n  context: {cluster: e2e, user: admin}\ncurrent-context: e2e\n")


# kwok's own fast stages (kustomize/stage/{node,pod}/fast at v0.8.0), trimmed to what a Deployment needs: the node
# becomes Ready and keeps its lease; pods become Running and Ready; Job pods complete; deleted pods go away. Two of
# the suite's own end a Helm test Pod as its container would: label rollouts.e2e/test pass (exit 0) or fail (1).
KWOK_STAGES = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-initialize}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: NotIn, values: ['True']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type  | Quote}}
      {{ end }}
      addresses:
      - {address: "127.0.0.1", type: InternalIP}
      - {address: {{ NodeName | Quote }}, type: Hostname}
      allocatable: {cpu: 1k, memory: 1Ti, pods: 1M}
      capacity: {cpu: 1k, memory: 1Ti, pods: 1M}
      nodeInfo:
        architecture: amd64
        bootID: ""
        containerRuntimeVersion: kwok
        kernelVersion: kwok
        kubeProxyVersion: kwok
        kubeletVersion: kwok
        machineID: ""
        operatingSystem: linux
        osImage: ""
        systemUUID: ""
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-heartbeat-with-lease}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: In, values: ['True']}
  delay: {durationMilliseconds: 600000, jitterDurationMilliseconds: 610000}
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Pending]}
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: NotIn, values: ['True']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      hostIP: "127.0.0.1"
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-complete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: '.metadata.ownerReferences.[].kind', operator: In, values: [Job]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated: {exitCode: 0, finishedAt: {{ $now | Quote }}, reason: Completed, startedAt: {{ $now | Quote }}}
      {{ end }}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: helm-test-pass}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: '.metadata.labels["rollouts.e2e/test"]', operator: In, values: [pass]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated: {exitCode: 0, finishedAt: {{ $now | Quote }}, reason: Completed, startedAt: {{ $now | Quote }}}
      {{ end }}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: helm-test-fail}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: '.metadata.labels["rollouts.e2e/test"]', operator: In, values: [fail]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated: {exitCode: 1, finishedAt: {{ $now | Quote }}, reason: Error, startedAt: {{ $now | Quote }}}
      {{ end }}
      phase: Failed
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: Exists}
  next:
    delete: true
"""

NODE_MANIFEST = f"""\
apiVersion: v1
kind: Node
metadata:
  name: {NODE}
  annotations: {{kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}}
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: {NODE}
    kubernetes.io/os: linux
    type: kwok
"""


@dataclass
class Cluster:
    """The running control plane. ``workdir`` holds pki/, logs/, data and the kubeconfig of this run."""

    workdir: Path
    processes: list[Process] = field(default_factory=list)
    api_port: int = 0

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @staticmethod
    def bin(name: str) -> str:
        """The path of a binary (built by scripts/e2e-build, or on PATH); FileNotFoundError when absent."""
        path = find_bin(name)
        if path is None:
            raise FileNotFoundError(f"{name} not found in {bin_dir()} or on PATH (run scripts/e2e-build)")
        return path

    # -- processes ------------------------------------------------------------------------------------------

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
              hosts: Path | None = None, cwd: Path | None = None) -> Process:
        """Start ``argv`` in a new session, output to logs/<name>.log. With ``hosts``, inside its own mount
        namespace where that file is /etc/hosts."""
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        log = logs / f"{name}.log"
        command = list(argv)
        if hosts is not None:
            quoted = " ".join(shlex.quote(a) for a in command)
            command = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                       f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && exec {quoted}"]
        with open(log, "ab") as out:
            popen = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})}, cwd=cwd or self.workdir,
                                     start_new_session=True)
        process = Process(name, popen, log)
        self.processes.append(process)
        with open(self.workdir / "pids", "a", encoding="utf-8") as fh:
            fh.write(f"{popen.pid} {name}\n")
        return process

    def stop(self, *processes: Process) -> None:
        """End the given processes (default: every one this cluster started, newest first), by PID: SIGTERM, then
        SIGKILL after 10 s."""
        chosen = list(processes) or list(reversed(self.processes))
        for process in chosen:
            if process.alive():
                _signal(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in chosen:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(process.pid, signal.SIGKILL)
                process.popen.wait(timeout=5)
            self.processes.remove(process)

    def check_alive(self) -> None:
        """AssertionError naming any started process that has exited, with the end of its log."""
        dead = [p for p in self.processes if not p.alive()]
        if dead:
            raise AssertionError("\n".join(f"{p.name} (pid {p.pid}) exited {p.popen.returncode}:\n{p.tail()}"
                                           for p in dead))

    def hosts_file(self, mapping: Mapping[str, str], name: str = "hosts") -> Path:
        """An /etc/hosts for ``start(hosts=...)``: localhost plus ``{hostname: address}``."""
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        lines += [f"{address} {host}" for host, address in sorted(mapping.items())]
        path = self.workdir / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    # -- kubectl --------------------------------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 120,
                check: bool = False) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([self.bin("kubectl"), "--kubeconfig", str(self.kubeconfig), *args], input=input,
                                text=True, capture_output=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def apply(self, manifest: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """Server-side apply of YAML text (field manager rollouts-e2e), failing loudly."""
        return self.kubectl("apply", "--server-side", "--field-manager=rollouts-e2e", "-f", "-", *extra,
                            input=manifest, check=True)

    # -- the control plane ----------------------------------------------------------------------------------

    def up(self) -> Cluster:
        pki = self.workdir / "pki"
        make_pki(pki)
        etcd_port, peer_port = free_port(), free_port()
        self.api_port = free_port()
        self.start("etcd", [self.bin("etcd"), "--name=e2e", f"--data-dir={self.workdir / 'etcd'}",
                            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                            f"--initial-cluster=e2e=http://127.0.0.1:{peer_port}",
                            "--unsafe-no-fsync=true", "--log-level=warn"])
        self.start("kube-apiserver", [
            self.bin("kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={self.api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--authorization-mode=Node,RBAC",
            "--endpoint-reconciler-type=none", "--allow-privileged=true", "--v=1"])
        self.kubeconfig.write_text(kubeconfig_text(self.server, pki), encoding="utf-8")
        wait_for("kube-apiserver /readyz", self._ready, timeout=90)
        self.start("kube-controller-manager", [
            self.bin("kube-controller-manager"), f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}",
            "--controllers=*", "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true", f"--service-cluster-ip-range={SERVICE_CIDR}", "--v=1"])
        self.start("kube-scheduler", [
            self.bin("kube-scheduler"), f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--v=1"])
        stages = self.workdir / "kwok.yaml"
        stages.write_text(KWOK_STAGES, encoding="utf-8")
        self.start("kwok", [self.bin("kwok"), f"--kubeconfig={self.kubeconfig}", f"--config={stages}",
                            "--manage-all-nodes=true", "--node-lease-duration-seconds=40"])
        self.apply(NODE_MANIFEST)
        wait_for(f"node {NODE} Ready", self._node_ready, timeout=60)
        wait_for("the default ServiceAccount", lambda: self.kubectl("get", "serviceaccount", "default").returncode
                 == 0, timeout=60)
        return self

    def _ready(self) -> bool:
        self.check_alive()
        return self.kubectl("get", "--raw", "/readyz", timeout=10).returncode == 0

    def _node_ready(self) -> bool:
        self.check_alive()
        result = self.kubectl("get", "node", NODE, "-o",
                              "jsonpath={.status.conditions[?(@.type=='Ready')].status}", timeout=10)
        return result.stdout.strip() == "True"


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the session leader's group: also what it started (unshare -> sh -> exec)


def new_workdir() -> Path:
    """One scratch directory per run, under $TMPDIR."""
    return Path(tempfile.mkdtemp(prefix="rollouts-e2e-"))
