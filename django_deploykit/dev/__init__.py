"""Development helpers used by the generated compose.dev.yaml."""
