"""``rollouts hold|release|approve|abort SERVICE --env ENV``: operators' actions on a running rollout.

Each writes the environment's state ConfigMap (``analysis-controller-state-<env>`` in ``flagger-system``) through
the Kubernetes API with the user's own kubeconfig, so RBAC on that ConfigMap decides who may act; the analysis
controller's replicas read it on their next call from Flagger. SERVICE is a service's name (its Canary's namespace
read from ``services/<SERVICE>/rollouts.yaml``: ``<namespace>`` in production, ``<namespace>-<env>`` elsewhere, as
the render names it), or the Canary's ``namespace/name``; ``--namespace`` overrides the namespace.

The lead registers these in ``cli.COMMANDS``: one click command per name, collected in ``COMMANDS``.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

SUMMARIES = {
    "hold": "Hold a service's rollout in an environment: Flagger waits until it is released.",
    "release": "Release a hold: the rollout continues at Flagger's next tick.",
    "approve": "Approve the promotion of one revision (the one waiting, or --checksum); consumed when it completes.",
    "abort": "Ask for a rollback: Flagger rolls the Canary back at its next tick.",
}


def _options(action: str) -> Callable[[Callable[..., int]], click.Command]:
    def decorate(f: Callable[..., int]) -> click.Command:
        f = click.option("--state-namespace", default="flagger-system", show_default=True, metavar="NS",
                         help="namespace of the controller's state ConfigMaps")(f)
        f = click.option("--root", default=".", show_default=True, metavar="DIR",
                         help="project root holding services/<SERVICE>/rollouts.yaml")(f)
        f = click.option("--namespace", metavar="NS", help="the Canary's namespace (default: from the spec)")(f)
        f = click.option("--context", metavar="NAME", help="kubeconfig context (default: its current-context)")(f)
        f = click.option("--kubeconfig", metavar="FILE",
                         help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")(f)
        if action in ("approve", "abort"):
            f = click.option("--checksum", metavar="SUM", help="the revision (Flagger's checksum): "
                             + ("default: the one waiting at confirm-promotion" if action == "approve"
                                else "default: whichever revision is running"))(f)
        if action != "release":
            f = click.option("--reason", default="", metavar="TEXT", help="why (shown in Flagger's events)")(f)
        f = click.option("--env", "environment", required=True, metavar="ENV", help="the environment")(f)
        f = click.argument("service", metavar="SERVICE")(f)
        return click.command(action, help=SUMMARIES[action], short_help=SUMMARIES[action])(f)

    return decorate


def _run(action: str, service: str, environment: str, reason: str, checksum: str | None, kubeconfig: str | None,
         context: str | None, namespace: str | None, root: str, state_namespace: str) -> int:
    from ..controller import kube
    from ..controller.operator import Order, carry_out, one_line
    from ..controller.state import StateStore, data_key
    from ..errors import RolloutsError

    canary = canary_key(service, environment, namespace, root)
    try:
        data_key(canary)
        data_key(f"{environment}/x")
    except ValueError as e:
        raise RolloutsError(str(e), "SERVICE is a service name or namespace/name; ENV a DNS label") from None
    creds = kube.from_kubeconfig(kubeconfig, context)
    order = Order(action, canary, environment, one_line(reason), checksum or None)

    async def act() -> dict[str, Any]:
        store = StateStore.connect(creds, state_namespace)
        try:
            by = await kube.whoami(store.http) or f"{getpass.getuser()} (unverified)"
            return await carry_out(order, store, by)
        finally:
            await store.aclose()

    answer = asyncio.run(act())
    click.echo(answer["message"])
    return 0


def canary_key(service: str, environment: str, namespace: str | None, root: str) -> str:
    """The Canary (namespace/name) of SERVICE in ENV, named the way the render names it."""
    from ..errors import RolloutsError

    if "/" in service:
        return service
    if namespace:
        return f"{namespace}/{service}"
    import yaml

    path = Path(root) / "services" / service / "rollouts.yaml"
    try:
        meta = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("metadata") or {}
    except (OSError, AttributeError, ValueError, yaml.YAMLError) as e:
        raise RolloutsError(f"cannot read the namespace of {service} from {path}: {type(e).__name__}",
                            "pass --namespace NS (or SERVICE as namespace/name), or --root DIR") from None
    if not meta.get("namespace"):
        raise RolloutsError(f"{path} has no metadata.namespace", "pass --namespace NS")
    from ..render.model import namespace_for

    return f"{namespace_for(str(meta['namespace']), environment)}/{meta.get('name') or service}"


@_options("hold")
def hold_command(service: str, environment: str, reason: str, **kw: Any) -> int:
    return _run("hold", service, environment, reason, None, **kw)


@_options("release")
def release_command(service: str, environment: str, **kw: Any) -> int:
    return _run("release", service, environment, "", None, **kw)


@_options("approve")
def approve_command(service: str, environment: str, reason: str, checksum: str | None, **kw: Any) -> int:
    return _run("approve", service, environment, reason, checksum, **kw)


@_options("abort")
def abort_command(service: str, environment: str, reason: str, checksum: str | None, **kw: Any) -> int:
    return _run("abort", service, environment, reason, checksum, **kw)


COMMANDS: dict[str, click.Command] = {"hold": hold_command, "release": release_command, "approve": approve_command,
                                      "abort": abort_command}
