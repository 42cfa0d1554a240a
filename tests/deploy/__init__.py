"""Offline checks of deploy/: the compose file, the HAProxy config and the Kubernetes manifests."""
