"""Contract suites: every implementation of a seam (providers, state backends) behaves alike."""
