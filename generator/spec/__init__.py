"""The rollouts.yaml spec (rollouts/v1alpha1): loading with positions, schema checks, per-environment resolution."""
