from __future__ import annotations

import sys

import click

from ..cli import COMMANDS
from .controller_context import build_context_command

HELP = "The in-cluster analysis controller that Flagger's webhooks call."


@click.group("controller", help=COMMANDS.get("controller", HELP))
def command() -> None:
    """The controller group: serve, build-context."""


@command.command("serve", help="Serve Flagger's webhooks (POST /webhooks/<type>), /healthz, /readyz and /metrics. "
                 "The configuration is reloaded when a file changes; a missing or invalid one denies every check "
                 "(fail closed) and keeps the last good one in use after a failed reload.",
                 short_help="serve Flagger's webhooks, health, readiness and metrics")
@click.option("--config", "config_path", default="/etc/rollouts/controller", metavar="FILE|DIR", show_default=True,
              help="one environment's config.json, or a directory of them (*.json and */config.json)")
@click.option("--listen", default="0.0.0.0:8080", metavar="HOST:PORT", show_default=True,
              help="address to listen on")
@click.option("--evidence", "evidence_dir", metavar="DIR", help="directory of the signed evidence records (every "
              "decision is recorded before it is answered; needs --evidence-key)")
@click.option("--evidence-key", metavar="FILE", envvar="ROLLOUTS_SIGNING_KEY", show_envvar=True,
              help="the cosign-format private key that signs the evidence "
              "(rollouts keys generate; its password from COSIGN_PASSWORD), mounted from a Secret")
@click.option("--outbox", "outbox_dir", metavar="DIR", help="directory of the durable notification outbox")
@click.option("--secrets", "secrets_dir", default="/etc/rollouts/secrets", metavar="DIR", show_default=True,
              help="where Secrets are mounted (<secret>/<key>)")
@click.option("--kubeconfig", metavar="FILE",
              help="kubeconfig for the operator state (holds, approvals, aborts); default: the pod's service "
              "account. Without either, holds deny and rollback never fires (fail closed)")
@click.option("--operator-listen", default="0.0.0.0:8081", metavar="HOST:PORT", show_default=True,
              help="address of the operator endpoints (POST /operator/{hold,release,approve,abort}; callers "
                   "authenticated by the Kubernetes API); served only with the operator state")
@click.option("--metrics-listen", default="", metavar="HOST:PORT",
              help="also serve GET /metrics alone on this address, for Prometheus (it is on --listen too)")
@click.option("--time-budget", default=8.0, type=click.FloatRange(0.1, 600), metavar="SECONDS", show_default=True,
              help="the most one decision may take; keep it under the webhooks' timeout (Flagger's default: 10s)")
def serve(config_path: str, listen: str, evidence_dir: str | None, outbox_dir: str | None, secrets_dir: str,
          evidence_key: str | None, kubeconfig: str | None, operator_listen: str, metrics_listen: str,
          time_budget: float) -> int:
    from ..controller.app import Settings
    from ..controller.config import ConfigError, load
    from ..controller.server import parse_listen
    from ..controller.server import serve as run

    try:
        host, port = parse_listen(listen)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--listen") from None
    try:
        operators = parse_listen(operator_listen)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--operator-listen") from None
    if operators[1] == port:
        raise click.BadParameter("must differ from --listen's port: the operator endpoints have their own",
                                 param_hint="--operator-listen")
    try:
        metrics = parse_listen(metrics_listen) if metrics_listen else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--metrics-listen") from None
    if metrics is not None and metrics[1] in (port, operators[1]):
        raise click.BadParameter("must differ from the ports of --listen and --operator-listen",
                                 param_hint="--metrics-listen")
    if bool(evidence_dir) != bool(evidence_key):
        raise click.UsageError("--evidence and --evidence-key go together: the records are signed")
    evidence = _evidence_log(evidence_dir, evidence_key, secrets_dir) if evidence_dir and evidence_key else None
    try:
        config = load(config_path)
        print(f"controller: {config.service_count} services in environment(s) "
              f"{', '.join(config.environment_names)} from {config_path}", file=sys.stderr)
    except ConfigError as e:
        print(f"controller: warning: {e.message}; every check denies until a valid configuration appears",
              file=sys.stderr)
    outbox = _outbox(outbox_dir, secrets_dir) if outbox_dir else None
    run(Settings(config=config_path, evidence_dir=evidence_dir, outbox_dir=outbox_dir, outbox=outbox,
                 secrets_dir=secrets_dir, time_budget=time_budget, store=_state_store(kubeconfig), evidence=evidence),
        host, port, operator_listen=operators, metrics_listen=metrics)
    return 0


def _evidence_log(directory: str, key: str, secrets_dir: str) -> object:
    """The signed decision log (a bad key or a locked chain is the user's error: exit 1 before serving). Secret
    values under ``secrets_dir`` are scrubbed from every record."""
    from ..controller.evidence import EvidenceLog, Signer

    return EvidenceLog(directory, Signer.from_file(key), secrets_dir=secrets_dir)


def _outbox(directory: str, secrets_dir: str) -> object:
    """The durable notification outbox (targets come from each service's configuration)."""
    from ..controller.outbox import Outbox

    return Outbox(directory, [], secrets_dir)


def _state_store(kubeconfig: str | None) -> object | None:
    """The operator state through the Kubernetes API: --kubeconfig, else the pod's service account, else none (the
    checks that need it then deny, with the reason)."""
    from ..controller import kube
    from ..controller.state import StateStore

    if kubeconfig:
        return StateStore.connect(kube.from_kubeconfig(kubeconfig))  # a bad kubeconfig is the user's error: exit 1
    try:
        return StateStore.connect(kube.in_cluster())
    except kube.KubeError as e:
        print(f"controller: warning: {e.message}; holds deny and rollback never fires until it is", file=sys.stderr)
        return None


command.add_command(build_context_command)
