"""The web console: pages the gateway serves beside its API (see `routes`)."""
