"""Signing providers behind one Protocol, the name registry, and the shared codecs."""
