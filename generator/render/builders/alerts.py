"""Where rollout events go: one Flagger AlertProvider per alert of the spec (its address in a user's Secret)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..model import Built, Service


def alerts(svc: Service) -> list[dict[str, Any]]:
    """The spec's alerts, each with the name of its AlertProvider, in the spec's order."""
    return [{"name": a["name"], "severity": a["severity"], "provider": f"{svc.name}-{a['name']}",
             "type": a["type"], "channel": a.get("channel"), "secretRef": a["secretRef"], "index": i}
            for i, a in enumerate(svc.spec.get("alerts") or [])]


def alert_providers(svc: Service) -> Iterator[Built]:
    for alert in svc.part(alerts):
        yield svc.object("alerts.yaml", "apps/alertprovider.yaml.j2", {"alert": alert}, "flagger.app/v1beta1",
                         "AlertProvider", alert["provider"], {"": ("spec", "alerts", alert["index"])})
