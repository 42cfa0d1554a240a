"""Alerts: Slack-compatible webhook, generic JSON webhook, SMTP e-mail.

One alert per new condition (a finding's kind and provider), none while it lasts, one
recovery notice when it clears; the state lives in the history DB so it holds across cron
runs. Channel URLs and passwords are secrets: a failure names the channel and the error's
type, never the URL.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    import aiohttp

    from monitoring.config import MonitorConfig
    from monitoring.history import History
    from monitoring.probe import Observation

__all__ = ["Notice", "channels", "notify"]


@dataclass(frozen=True, slots=True)
class Notice:
    """One message: new conditions (``alert``) or cleared ones (``recovery``)."""

    event: str
    service: str
    conditions: list[dict[str, Any]]

    @property
    def subject(self) -> str:
        """One line."""
        if self.event == "alert":
            return f"tiktok-signer monitor: {len(self.conditions)} new problem(s) at {self.service}"
        return f"tiktok-signer monitor: recovered at {self.service}"

    @property
    def text(self) -> str:
        """The message body."""
        lines = [self.subject]
        for condition in self.conditions:
            if self.event == "alert":
                where = f" [{condition['provider']}]" if condition.get("provider") else ""
                lines.append(
                    f"- {condition['severity']} {condition['kind']}{where}: {condition['detail']}"
                )
                lines.append(f"  action: {condition['action']}")
            else:
                lines.append(f"- cleared: {condition['key']}")
        return "\n".join(lines)


def channels(config: MonitorConfig) -> list[str]:
    """The channels configured: ``slack``, ``webhook``, ``email``."""
    found = []
    if config.slack_url:
        found.append("slack")
    if config.webhook_url:
        found.append("webhook")
    if config.smtp_url and config.email_to:
        found.append("email")
    return found


async def notify(
    config: MonitorConfig,
    session: aiohttp.ClientSession,
    history: History,
    observations: list[Observation],
) -> list[str]:
    """Send what is new or cleared; return one line per message for the report."""
    current = {o.key: o for o in observations if o.finding.severity > 0}
    active = history.active_alerts()
    raised = {key: o for key, o in current.items() if key not in active}
    cleared = [key for key in active if key not in current]
    notices = []
    if raised:
        conditions = [o.as_dict() for o in raised.values()]
        notices.append(Notice("alert", config.service_url, conditions))
    if cleared:
        conditions = [{"key": key, "detail": active[key]} for key in cleared]
        notices.append(Notice("recovery", config.service_url, conditions))
    lines: list[str] = []
    delivered = not channels(config)
    for notice in notices:
        for channel in channels(config):
            try:
                await _send(channel, notice, config, session)
            except Exception as exc:  # noqa: BLE001 - a channel's failure is reported, not raised
                lines.append(f"{notice.event} via {channel}: failed ({type(exc).__name__})")
            else:
                delivered = True
                lines.append(f"{notice.event} via {channel}: sent")
    if notices and delivered:
        history.set_alerts(
            {key: f"{o.finding.kind}: {o.finding.detail}"[:300] for key, o in raised.items()},
            cleared,
        )
    return lines


async def _send(
    channel: str, notice: Notice, config: MonitorConfig, session: aiohttp.ClientSession
) -> None:
    if channel == "slack" and config.slack_url:
        await _post(session, config.slack_url, {"text": notice.text})
    elif channel == "webhook" and config.webhook_url:
        await _post(
            session,
            config.webhook_url,
            {"event": notice.event, "service": notice.service, "conditions": notice.conditions},
        )
    elif channel == "email" and config.smtp_url:
        await asyncio.to_thread(_mail, config.smtp_url, config.email_to, notice)


async def _post(session: aiohttp.ClientSession, url: str, payload: dict[str, Any]) -> None:
    async with session.post(url, json=payload) as response:
        response.raise_for_status()


def _mail(smtp_url: str, to: tuple[str, ...], notice: Notice) -> None:
    """Send ``notice`` with the standard library's SMTP client (run in a thread)."""
    url = urlsplit(smtp_url)
    secure = url.scheme == "smtps"
    port = url.port or (465 if secure else 25)
    host = url.hostname or "localhost"
    user = unquote(url.username) if url.username else None
    message = EmailMessage()
    message["Subject"] = notice.subject
    message["From"] = user if user and "@" in user else "tiktok-signer@localhost"
    message["To"] = ", ".join(to)
    message.set_content(notice.text)
    context = ssl.create_default_context()
    client = (
        smtplib.SMTP_SSL(host, port, timeout=10, context=context)
        if secure
        else smtplib.SMTP(host, port, timeout=10)
    )
    with client:
        if parse_qs(url.query).get("starttls") == ["1"]:
            client.starttls(context=context)
        if user:
            client.login(user, unquote(url.password or ""))
        client.send_message(message)
