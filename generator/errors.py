"""The one exception root for problems a user can cause (bad paths, missing tools, bad keys)."""

from __future__ import annotations


class RolloutsError(Exception):
    """A problem the user can fix. The CLI prints ``message`` and ``hint`` and exits 1, without a traceback."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ToolMissing(RolloutsError):
    """An external program (kubeconform, promtool, kustomize, git, cosign) is not installed."""
