"""rollouts: a GitOps manifest generator and linter for progressive delivery (Flagger + Linkerd + Flux)."""

__version__ = "0.1.0"
