"""Email: build a mail-client-safe message and send it over SMTP (stdlib smtplib and email).

Header values come from device names and findings: CR, LF and other control characters are removed
so nothing can inject a header. The HTML body is produced by the report module with inline CSS and
no scripts; the full report travels as an attachment, zipped or left on the collector when the
mail server's size limit says so (:func:`send_email` hands that limit to the message's composer).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from fleet.config import SmtpSettings
from fleet.errors import MailError

# Used when the server does not say its limit (no SIZE in its EHLO answer, or "SIZE 0"): many
# company relays refuse messages over 10 MB.
DEFAULT_SIZE_LIMIT = 10 * 1024 * 1024


def header_safe(text: str, limit: int = 200) -> str:
    """One line of printable text, short enough for a subject."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    clean = " ".join(clean.split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def build_email(
    settings: SmtpSettings,
    to: tuple[str, ...],
    subject: str,
    text_body: str,
    html_body: str,
    attachment: bytes | None = None,
    attachment_name: str = "fleet-report.html",
    attachment_type: tuple[str, str] = ("text", "html"),
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = header_safe(subject)
    msg["From"] = header_safe(settings.sender)
    msg["To"] = ", ".join(header_safe(a) for a in to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="fleet.local")
    msg.set_content(text_body)
    msg.add_alternative(html_body, subtype="html")
    if attachment is not None:
        maintype, subtype = attachment_type
        filename = header_safe(attachment_name)
        msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg


def wire_size(msg: EmailMessage) -> int:
    """Bytes the message takes on the wire (CRLF line ends), as smtplib declares it to the server."""
    return len(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))


def size_limit(smtp: smtplib.SMTP) -> int:
    """The largest message the server takes, from its EHLO ``SIZE`` (RFC 1870), else the default."""
    declared = smtp.esmtp_features.get("size", "").strip()
    if declared.isdigit() and int(declared) > 0:
        return int(declared)
    return DEFAULT_SIZE_LIMIT


def send_email(settings: SmtpSettings, compose: Callable[[int], EmailMessage], timeout: float = 60.0) -> None:
    """Send over SMTP, with STARTTLS or implicit TLS when configured; raises MailError, whatever
    went wrong (a cron job must get exit 5 and a reason, never a traceback).

    A login happens over TLS only: a user means STARTTLS unless ``ssl`` or an explicit
    ``starttls = false``, a server that does not offer STARTTLS gets nothing, and a clear login
    needs ``allow_plaintext_auth``. ``compose(limit)`` builds the message once the server has
    said how large one may be (bytes).
    """
    if not settings.host:
        raise MailError("no SMTP host: set --smtp-host, FLEET_SMTP_HOST or smtp.host in the config file")
    password = _password(settings)
    starttls = settings.use_starttls()
    if settings.user and not (settings.ssl or starttls or settings.allow_plaintext_auth):
        raise MailError(
            "not sending the SMTP password in clear: smtp.user is set but neither STARTTLS nor ssl is on"
            " (turn one on, or allow a login without TLS: smtp.allow_plaintext_auth = true)"
        )
    context = ssl.create_default_context()
    port = settings.effective_port()
    where = f"SMTP {settings.host}:{port}"
    try:
        smtp: smtplib.SMTP
        if settings.ssl:
            smtp = smtplib.SMTP_SSL(settings.host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, port, timeout=timeout)
        with smtp:
            if starttls:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    sent = "the password or the report" if settings.user else "the report"
                    raise MailError(f"{where} does not offer STARTTLS: not sending {sent} in clear")
                smtp.starttls(context=context)
            if settings.user:
                smtp.login(settings.user, password)
            smtp.ehlo_or_helo_if_needed()
            smtp.send_message(compose(size_limit(smtp)))
    except smtplib.SMTPException as exc:  # before OSError: SMTPServerDisconnected is both
        raise MailError(_hide(f"{where}: {exc}", password)) from None
    except (OSError, ValueError) as exc:  # sockets, TLS, a host name IDNA cannot encode, ...
        reason = getattr(exc, "strerror", None) or str(exc)
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason += " (a private CA: point SSL_CERT_FILE at a bundle that holds it)"
        raise MailError(_hide(f"{where}: {reason}", password)) from None


def _password(settings: SmtpSettings) -> str:
    """The login's password from its environment variable ('' without one); checked here because
    smtplib encodes it as ASCII and raises UnicodeEncodeError, which names no setting."""
    if not settings.user:
        return ""
    password = ""
    if settings.password_env:
        value = os.environ.get(settings.password_env)
        if value is None:
            raise MailError(f"smtp password_env {settings.password_env} is not set in the environment")
        password = value
    if not settings.user.isascii() or not password.isascii():
        what = "user name" if not settings.user.isascii() else f"password in {settings.password_env}"
        raise MailError(f"the SMTP {what} is not ASCII, and SMTP AUTH (smtplib) sends ASCII only")
    return password


def _hide(text: str, password: str) -> str:
    """``text`` without the password, should a server echo it back in an error."""
    return text.replace(password, "***") if password else text
