"""Fakes the tests share: TikTok's web origin, TikTok LIVE, upstream sign servers, a clock.

Every server listens on 127.0.0.1 only (a free port) and records what it receives; nothing
leaves the machine. The fakes sign for real with the native codecs, so what they answer is
what a genuine peer would answer.
"""
