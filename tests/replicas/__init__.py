"""Several replicas of the service as one: real processes behind HAProxy."""
