"""A provider for tests: signs for real with the X-Bogus codec, or fails on demand."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from providers import xbogus
from providers.errors import ProviderDeclined, ProviderError, ProviderUnavailable
from providers.typing import Persona, ProviderHealth, ProviderState, SignRequest, SignResult
from providers.urls import append_ms_token, requested_token

Behaviour = Literal["ok", "fail", "hang", "crash", "garbage", "decline"]


class FakeProvider:
    """Does what ``behaviour`` says: sign, fail, hang, crash, return garbage or decline."""

    def __init__(
        self, name: str, persona: Persona, behaviour: Behaviour = "ok", delay_s: float = 0.0
    ) -> None:
        self.name = name
        self.awaits = True
        self.checked = False
        self.persona = persona
        self.behaviour: Behaviour = behaviour
        self.delay_s = delay_s
        self.calls = 0
        #: Whether start / aclose were ever called (a restart calls both).
        self.started = False
        self.closed = False
        self.running = False

    async def start(self) -> None:
        """Mark started."""
        self.started = self.running = True

    async def aclose(self) -> None:
        """Mark closed; signing is refused until the next start."""
        self.closed = True
        self.running = False

    def health(self) -> ProviderHealth:
        """Stopped until started and after aclose; else ready unless told to fail."""
        state: ProviderState = "ready" if self.behaviour == "ok" else "failed"
        if not self.running:
            state = "stopped"
        return ProviderHealth(name=self.name, state=state)

    async def sign(self, request: SignRequest) -> SignResult:
        """Act out the behaviour."""
        self.calls += 1
        if self.closed and not self.running:
            raise ProviderUnavailable(f"{self.name} is closed")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.behaviour == "fail":
            raise ProviderError(f"{self.name} was told to fail")
        if self.behaviour == "hang":
            await asyncio.Event().wait()
        if self.behaviour == "crash":
            raise RuntimeError(f"{self.name} crashed")
        if self.behaviour == "decline":
            raise ProviderDeclined(f"{self.name} does not sign this")
        ms_token = requested_token(request.ms_token, request.query) or ""
        signed_query = append_ms_token(request.query, ms_token)
        user_agent = request.user_agent or self.persona.user_agent
        token = (
            "DFSzgarbage"
            if self.behaviour == "garbage"
            else xbogus.encode(
                signed_query,
                request.body,
                user_agent,
                int(time.time()),
                self.persona.canvas,
                self.persona.flags,
            )
        )
        return SignResult(
            signed_url=f"{request.base}?{signed_query}&X-Bogus={token}",
            x_bogus=token,
            x_gnarly=None,
            ms_token=ms_token,
            user_agent=user_agent,
            navigator=self.persona.navigator(user_agent),
            provider=self.name,
        )
