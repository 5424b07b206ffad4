"""What a render produced (the render's result type, shared by the renderer and the tree writer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, Severity
from .origins import Origins, Position


@dataclass
class RenderResult:
    """What a render produced: file texts by POSIX path from the repository root, findings, and origins.

    ``services`` maps "<environment>/<service>" to the service's namespace in that environment; ``scope`` lists
    the path prefixes this render is responsible for (everything under flux/ for a full render), so a partial
    render (``--env``/``--service``) replaces only what it rendered.
    """

    files: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    origins: Mapping[str, Mapping[str, Position]] = field(default_factory=Origins)
    services: dict[str, str] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # "<env>/<service>" -> builders.service_facts
    scope: list[str] = field(default_factory=list)
    complete: bool = True
    from_tree: set[str] = field(default_factory=set)  # files whose text was read from the tree (cache hits)
    tree_dir: str = "flux"  # the tree those were read from

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)
