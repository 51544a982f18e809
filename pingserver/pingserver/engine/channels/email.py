"""Email channel over SMTP (smtplib): config {"to": "a@b, c@d", "up": true, "down": true,
"late": true}. The server comes from HB_SMTP_*; the password never reaches a log."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from pingserver.config import Settings
from pingserver.engine.channels import Alert, DeliveryError, PermanentError, templates, toggled


def recipients(config: dict[str, Any]) -> list[str]:
    raw = config.get("to") or config.get("value") or ""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [str(a).strip() for a in items if str(a).strip()]


def message(alert: Alert, sender: str, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = templates.headline(alert)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    # The same id on every retry lets a mail filter spot duplicates.
    msg["X-Heartbeat-Flip-Id"] = alert.flip_id
    msg["X-Heartbeat-Check"] = str(alert.check.config["name"])
    msg.set_content(templates.body(alert))
    return msg


class EmailTransport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def wants(self, config: dict[str, Any], kind: str) -> bool:
        return toggled(config, kind) and bool(recipients(config))

    def needs_last_ping(self, config: dict[str, Any]) -> bool:
        return True

    def send(self, channel: dict[str, Any], alert: Alert, timeout: float) -> None:
        s = self.settings
        if not s.smtp_host:
            raise PermanentError("email is not configured: set HB_SMTP_HOST")
        to = recipients(channel.get("config") or {})
        msg = message(alert, s.smtp_from, to)
        try:
            self._submit(msg, timeout)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise _by_code(codes[0], f"recipients refused ({codes})") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"SMTP error {exc.smtp_code}: "
                           f"{_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP failed: {type(exc).__name__}: {exc}"[:300]) from None

    def _submit(self, msg: EmailMessage, timeout: float) -> None:
        s = self.settings
        context = ssl.create_default_context()
        if s.smtp_port == 465:  # implicit TLS (SMTPS)
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=timeout,
                                                  context=context)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            secure = s.smtp_port == 465
            if s.smtp_starttls and not secure and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                secure = True
            if s.smtp_user:
                if not secure and s.smtp_starttls:
                    # A server that stops offering STARTTLS may be a downgrade attack.
                    raise DeliveryError("the SMTP server did not offer STARTTLS; refusing "
                                        "to send credentials in clear text")
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(msg)


def _text(raw: bytes | str) -> str:
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[:200]


def _by_code(code: int, text: str) -> DeliveryError:
    """5xx answers are permanent (bad address, rejected), 4xx are worth retrying."""
    return PermanentError(text) if 500 <= code < 600 else DeliveryError(text)
