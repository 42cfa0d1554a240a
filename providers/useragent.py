"""What a browser's user agent implies about the rest of its navigator.

A persona, a LIVE client's socket query and the browser's pages must present a
``navigator.platform`` that agrees with the user agent: TikTok's SDK checks it (envcode bit
``0x400`` when they disagree, ``shared/reference/sdk-2026.md``).
"""

from __future__ import annotations

__all__ = ["OPERATING_SYSTEMS", "navigator_platform"]

#: (user-agent marker, ``navigator.platform``, ``userAgentData.platform``), first match wins.
OPERATING_SYSTEMS = (
    ("Windows NT", "Win32", "Windows"),
    ("Android", "Linux armv81", "Android"),
    ("CrOS", "Linux x86_64", "Chrome OS"),
    ("iPhone", "iPhone", "iOS"),
    ("iPad", "iPad", "iOS"),
    ("Macintosh", "MacIntel", "macOS"),
    ("Linux", "Linux x86_64", "Linux"),
)


def navigator_platform(user_agent: str) -> str | None:
    """The ``navigator.platform`` of the browser ``user_agent`` names (None: no OS named)."""
    for marker, platform, _ in OPERATING_SYSTEMS:
        if marker in user_agent:
            return platform
    return None
