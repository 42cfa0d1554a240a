"""The persona every provider signs as, and the one place it can change at run time."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from providers.typing import Persona

if TYPE_CHECKING:
    from signer.settings import Settings


def persona_from(settings: Settings) -> Persona:
    """The configured persona (``user_agent``, ``browser_*``, ``screen_*``, ``sdk_*``)."""
    return Persona(
        user_agent=settings.user_agent,
        platform=settings.browser_platform,
        language=settings.browser_language,
        screen_width=settings.screen_width,
        screen_height=settings.screen_height,
        device_scale_factor=settings.device_scale_factor,
        os=settings.browser_os,
        flags=settings.flags,
        canvas=settings.sdk_canvas,
    )


class PersonaStore:
    """Holds the current persona, shared by the providers of one app.

    The browser provider publishes the flags and canvas it observes from TikTok's SDK, so
    the native fallback keeps signing as the same browser.
    """

    def __init__(self, persona: Persona) -> None:
        self.current = persona

    def publish(
        self, *, flags: tuple[int, int, int] | None = None, canvas: int | None = None
    ) -> Persona:
        """Replace the SDK-derived values; return the new persona."""
        changes: dict[str, object] = {}
        if flags is not None:
            changes["flags"] = flags
        if canvas is not None:
            changes["canvas"] = canvas
        if changes:
            self.current = dataclasses.replace(self.current, **changes)  # type: ignore[arg-type]
        return self.current
