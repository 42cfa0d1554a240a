"""Tests of the partner algorithms (signer/partner), against the shared vectors."""
