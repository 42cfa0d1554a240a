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
        gnarly_version=settings.gnarly_version,
        gnarly_build=settings.gnarly_sdk_build or None,
    )


class PersonaStore:
    """Holds the current persona, shared by the providers of one app.

    The browser provider publishes the flags and canvas it observes from TikTok's SDK, so
    the native fallback keeps signing as the same browser.
    """

    def __init__(self, persona: Persona) -> None:
        self.current = persona

    def publish(
        self,
        *,
        flags: tuple[int, int, int],
        canvas: int,
        gnarly_version: str,
        gnarly_build: str | None,
    ) -> bool:
        """Adopt what the SDK was seen to write; True when anything changed."""
        current = self.current
        observed = (flags, canvas, gnarly_version, gnarly_build)
        if observed == (
            current.flags,
            current.canvas,
            current.gnarly_version,
            current.gnarly_build,
        ):
            return False
        self.current = dataclasses.replace(
            current,
            flags=flags,
            canvas=canvas,
            gnarly_version=gnarly_version,
            gnarly_build=gnarly_build,
        )
        return True
