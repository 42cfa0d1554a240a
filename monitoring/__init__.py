"""Algorithm-change monitor, baseline analyzer and alerts (built in a later issue)."""
