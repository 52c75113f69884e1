"""Outgoing mail: the message as data, its MIME form, and senders behind one small interface.

:class:`SmtpSender` connects and logs in through yagmail (ssl / starttls / none, explicit
timeout, the password always given so yagmail never falls back to keyring or a prompt) and then
sends messages built here, over **one** connection per batch, because:

* yagmail's own ``send`` logs in again for every mail (servers rate-limit logins), puts ``<br>``
  in text/plain, writes attachment names as RFC 2231 only, and attaches any content string that
  happens to be an existing path;
* we want our own Message-ID (recorded by the caller before sending, for threading), an RFC 2231
  ``filename*`` *and* an RFC 2047 ``name=`` on every attachment (Outlook, Foxmail, QQ mail and
  Thunderbird all show one of them), and real line breaks.

Errors: smtplib / socket / ssl errors are translated at one choke point (:func:`translate_error`)
into :class:`MailSendError`, with a precise English message for the log and a Chinese one for
the coordinator (``reason_zh``: 无法连接邮件服务器 …). Transient ones (4xx, connection reset,
timeout) are retried with exponential back-off and jitter, within ``retry_budget_seconds`` for
the whole batch: an unreachable server costs seconds, not minutes, and the mails left are for
the next run. Permanent ones (5xx: a bad address) are recorded in that mail's
:class:`SendResult` and the batch goes on. ``send`` raises only when it cannot send anything at
all (cannot connect or log in).
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import secrets
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import encoders
from email.generator import BytesGenerator
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, getaddresses
from io import BytesIO
from types import MappingProxyType
from typing import Any, Literal, Protocol
from urllib.parse import quote

from annual_report.errors import ConfigError, MailSendError
from connectors.archive import MessageArchive
from connectors.settings import SmtpSettings

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
_MAX_BACKOFF = 60.0


def new_message_id(domain: str = "nianbao.local", hint: str | None = None) -> str:
    """``<nianbao.<hint>.<time>.<random>@domain>``; ``hint`` e.g. ``2021.RSJ.invitation``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    safe_hint = re.sub(r"[^A-Za-z0-9.-]", "-", hint) + "." if hint else ""
    return f"<nianbao.{safe_hint}{stamp}.{secrets.token_hex(6)}@{domain}>"


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content: bytes = field(repr=False)
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class OutgoingMail:
    """One mail. Sequences may be given as lists; attachments as ``(name, bytes, mime)``."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    attachments: tuple[OutgoingAttachment, ...] = ()
    message_id: str = field(default_factory=new_message_id)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    campaign: str | None = None  # → X-Nianbao-Campaign
    department: str | None = None  # → X-Nianbao-Department
    kind: str | None = None  # → X-Nianbao-Kind (invitation, receipt, ...)
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    auto_submitted: str | None = "auto-generated"  # RFC 3834: keeps out-of-office replies away

    def __post_init__(self) -> None:
        def tup(value: Any) -> tuple[Any, ...]:
            if value is None:
                return ()
            return (value,) if isinstance(value, str) else tuple(value)

        object.__setattr__(self, "to", tup(self.to))
        object.__setattr__(self, "cc", tup(self.cc))
        object.__setattr__(self, "bcc", tup(self.bcc))
        object.__setattr__(self, "references", tup(self.references))
        object.__setattr__(
            self,
            "attachments",
            tuple(
                a if isinstance(a, OutgoingAttachment) else OutgoingAttachment(*a)
                for a in self.attachments
            ),
        )
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))

    @property
    def recipients(self) -> tuple[str, ...]:
        """Envelope recipients (to, cc, bcc), bare addresses."""
        return tuple(addr for _, addr in getaddresses([*self.to, *self.cc, *self.bcc]))


@dataclass(frozen=True)
class SendResult:
    message_id: str
    recipients: tuple[str, ...]
    status: Literal["sent", "failed"]
    permanent: bool = False  # a failure a retry cannot fix (bad address)
    smtp_code: int | None = None
    smtp_reply: str | None = None
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)  # partial refusals
    attempts: int = 0
    sent_at: datetime | None = None
    error: str | None = None  # English, for the log
    error_zh: str | None = None  # the same in Chinese, for the coordinator
    campaign: str | None = None
    department: str | None = None
    kind: str | None = None
    archived: str | None = None  # path of the sent message in the archive

    @property
    def ok(self) -> bool:
        return self.status == "sent"


class MailSender(Protocol):
    def send(
        self,
        mails: Sequence[OutgoingMail],
        *,
        before_send: Callable[[OutgoingMail], object] | None = None,
        on_result: Callable[[SendResult], None] | None = None,
    ) -> list[SendResult]:
        """Send a batch over one connection; one result per mail, in order.

        ``before_send(mail)`` runs just before each mail is handed to the server (the caller
        records it as pending there: a crash between the two leaves exactly one mail uncertain);
        when it returns ``False`` the mail is withheld (another run is sending it): not sent, no
        result. ``on_result`` runs after each, also for mails not attempted because the server
        was lost.
        """
        ...


# -- MIME ------------------------------------------------------------------------------------


def _check_address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"invalid e-mail address {value!r}")
    return value


def _addresses(values: Iterable[str]) -> str:
    out = []
    for name, addr in getaddresses(list(values)):
        _check_address(addr)
        out.append(formataddr((name, addr), charset="utf-8") if name else addr)
    return ", ".join(out)


def _one_line(value: str) -> str:
    return re.sub(r"[\r\n\t]+", " ", value).strip()


def _encoded(value: str) -> str:
    value = _one_line(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _attachment_part(att: OutgoingAttachment) -> MIMEBase:
    maintype, _, subtype = att.mime_type.partition("/")
    part = MIMEBase(maintype or "application", subtype or "octet-stream")
    part.set_payload(att.content)
    encoders.encode_base64(part)
    name = _one_line(att.filename).replace('"', "") or "attachment"
    # RFC 2047 words (each under 76 characters, split on character boundaries) inside a quoted
    # name= for clients that predate RFC 2231; one line, no folding inside the quotes.
    words = " ".join(Header(name, "utf-8").encode(maxlinelen=76).split())
    del part["Content-Type"]
    part["Content-Type"] = f'{maintype}/{subtype};\n name="{words}"'
    part["Content-Disposition"] = "attachment;\n " + _rfc2231("filename", name)
    return part


def _rfc2231(param: str, value: str, limit: int = 900) -> str:
    """``filename*=UTF-8''…``; continuations only for names too long for one header line."""
    encoded = quote(value.encode("utf-8"), safe="")
    if len(encoded) <= limit:
        return f"{param}*=UTF-8''{encoded}"
    tokens = re.findall(r"%[0-9A-F]{2}|[^%]", encoded)
    pieces = [""]
    for token in tokens:
        if len(pieces[-1]) + len(token) > 70:
            pieces.append("")
        pieces[-1] += token
    out = [f"{param}*0*=UTF-8''{pieces[0]}"]
    out += [f"{param}*{n}*={p}" for n, p in enumerate(pieces[1:], 1)]
    return ";\n ".join(out)


def render_message(
    mail: OutgoingMail,
    *,
    sender: str,
    sender_name: str | None = None,
    reply_to: str | None = None,
    date: datetime | None = None,
    boundary: str | None = None,
) -> bytes:
    """The mail as RFC 5322 bytes (CRLF line ends). Raises ValueError for a malformed mail.

    ``boundary`` fixes the MIME boundaries (for deterministic output); random otherwise.
    """
    if not mail.to:
        raise ValueError("a mail needs at least one To address")
    text = MIMEText(_crlf(mail.text), "plain", "utf-8")  # base64: real line breaks, no <br>
    body: Any = text
    if mail.html:
        body = MIMEMultipart("alternative")
        body.attach(text)
        body.attach(MIMEText(_crlf(mail.html), "html", "utf-8"))
    if mail.attachments:
        root = MIMEMultipart("mixed")
        root.attach(body)
        for att in mail.attachments:
            root.attach(_attachment_part(att))
    else:
        root = body
    for n, part in enumerate(root.walk()):
        if part is not root:
            del part["MIME-Version"]
        if boundary and part.is_multipart():
            part.set_boundary(f"{boundary}-{n}")
    del root["MIME-Version"]

    root["From"] = formataddr((_one_line(sender_name or ""), _check_address(sender)), "utf-8")
    root["To"] = _addresses(mail.to)
    if mail.cc:
        root["Cc"] = _addresses(mail.cc)
    _addresses(mail.bcc)  # validated; never written into the headers
    if reply_to:
        root["Reply-To"] = _check_address(reply_to)
    root["Subject"] = _encoded(mail.subject)
    when = date or datetime.now().astimezone()
    root["Date"] = format_datetime(when if when.tzinfo else when.astimezone())
    root["Message-ID"] = _msgid(mail.message_id)
    # Threading ids come from other people's mail: keep the well-formed ones, drop the rest.
    parent = _thread_id(mail.in_reply_to)
    if parent:
        root["In-Reply-To"] = parent
    refs = [r for r in map(_thread_id, mail.references) if r]
    if parent and parent not in refs:
        refs.append(parent)
    if refs:
        root["References"] = "\n ".join(refs)
    root["MIME-Version"] = "1.0"
    if mail.auto_submitted:
        root["Auto-Submitted"] = mail.auto_submitted
        root["X-Auto-Response-Suppress"] = "OOF, AutoReply"
    for name, value in (
        ("X-Nianbao-Campaign", mail.campaign),
        ("X-Nianbao-Department", mail.department),
        ("X-Nianbao-Kind", mail.kind),
        *mail.headers.items(),
    ):
        if value is None:
            continue
        if not _HEADER_NAME.match(name):
            raise ValueError(f"invalid header name {name!r}")
        root[name] = _encoded(str(value))
    root["X-Mailer"] = "nianbao"

    buf = BytesIO()
    BytesGenerator(
        buf, mangle_from_=False, policy=compat32.clone(linesep="\r\n", max_line_length=0)
    ).flatten(root)
    return buf.getvalue()


def _thread_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    value = value if value.startswith("<") else f"<{value}>"
    return value if re.fullmatch(r"<[^<>\s]+>", value) else None


def _msgid(value: str) -> str:
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    if not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", value):
        raise ValueError(f"invalid Message-ID {value!r}")
    return value


# -- errors ----------------------------------------------------------------------------------


class SmtpError(MailSendError):
    """A translated SMTP failure: the server's code and reply, refused recipients, and whether
    the connection is gone (reconnect before the next try)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        smtp_code: int | None = None,
        smtp_reply: str | None = None,
        refused: Mapping[str, tuple[int, str]] | None = None,
        connection_lost: bool = False,
        auth: bool = False,
        reason_zh: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(
            message, permanent=permanent, smtp_code=smtp_code, reply=smtp_reply or None, **context
        )
        self.smtp_code = smtp_code
        self.smtp_reply = smtp_reply
        self.refused = dict(refused or {})
        self.connection_lost = connection_lost
        self.auth = auth
        self.reason_zh = reason_zh or "发送邮件失败"  # for the coordinator


def translate_error(exc: BaseException, **context: Any) -> SmtpError:
    """The one choke point from smtplib / socket / ssl errors to :class:`MailSendError`.

    4xx replies, dropped connections and timeouts are transient; 5xx replies, a rejected
    login and a rejected TLS certificate are permanent. Anything else is a bug and re-raised.
    Each error gets its Chinese ``reason_zh`` here, once, with the server it was about.
    """
    if isinstance(exc, SmtpError):
        return exc
    server = _server(context)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = {addr: (code, _reply(msg)) for addr, (code, msg) in exc.recipients.items()}
        code, reply = next(iter(codes.values()), (None, ""))
        permanent = bool(codes) and all(c >= 500 for c, _ in codes.values())
        refused = "、".join(codes)
        return SmtpError(
            "every recipient was refused",
            permanent=permanent,
            smtp_code=code,
            smtp_reply=reply,
            refused=codes,
            connection_lost=any(c == 421 for c, _ in codes.values()),
            reason_zh=(
                f"收件地址被邮件服务器拒收：{refused}（{code} {_short(reply)}），请核对地址"
                if permanent
                else f"收件地址暂时被拒绝：{refused}（{code}），稍后重试"
            ),
            **context,
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return SmtpError(
            "SMTP authentication failed",
            permanent=True,
            smtp_code=exc.smtp_code,
            smtp_reply=_reply(exc.smtp_error),
            connection_lost=True,
            auth=True,
            reason_zh=(
                f"邮件服务器{server} 拒绝登录（{exc.smtp_code}）：请检查 mail.yaml 中的 smtp.user "
                "和发信密码（环境变量或 Prefect Secret）"
            ),
            **context,
        )
    if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, data error, HELO, ...
        code = exc.smtp_code
        what = type(exc).__name__.removeprefix("SMTP")
        reply = _reply(exc.smtp_error)
        if 500 <= code < 600:
            zh = f"邮件服务器{server} 拒收了这封邮件（{code} {_short(reply)}）"
        elif code == 421:
            zh = f"邮件服务器{server} 暂停服务并断开了连接（421），稍后重试"
        else:
            zh = f"邮件服务器{server} 暂时无法接收（{code} {_short(reply)}），稍后重试"
        return SmtpError(
            f"server answered {code} ({what})",
            permanent=500 <= code < 600,
            smtp_code=code,
            smtp_reply=reply,
            connection_lost=code == 421 or isinstance(exc, smtplib.SMTPConnectError),
            reason_zh=zh,
            **context,
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpError(
            f"TLS certificate rejected: {exc.verify_message}",
            permanent=True,
            connection_lost=True,
            reason_zh=f"邮件服务器{server} 的证书未通过验证（{exc.verify_message}）",
            **context,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpError(
            f"server does not support it: {exc}",
            permanent=True,
            connection_lost=True,
            reason_zh=f"邮件服务器{server} 不支持所需的功能（{exc}）：请检查 smtp.security 设置",
            **context,
        )
    if isinstance(exc, OSError | smtplib.SMTPException):  # disconnects, resets, timeouts
        return SmtpError(
            f"{type(exc).__name__}: {exc}",
            connection_lost=True,
            reason_zh=_network_zh(exc, server, context.get("host")),
            **context,
        )
    raise exc


def _server(context: Mapping[str, object]) -> str:
    host, port = context.get("host"), context.get("port")
    if not host:
        return ""
    return f" {host}:{port}" if port else f" {host}"


def _short(reply: str, limit: int = 80) -> str:
    reply = " ".join(reply.split())
    return reply if len(reply) <= limit else reply[: limit - 1] + "…"


def _network_zh(exc: BaseException, server: str, host: object) -> str:
    """Connection-level failures as a coordinator reads them."""
    if isinstance(exc, ConnectionRefusedError):
        return f"无法连接邮件服务器{server}（连接被拒绝：服务器未运行，或地址、端口不对）"
    if isinstance(exc, socket.gaierror):
        return f"找不到邮件服务器 {host}（域名无法解析：请检查 smtp.host 和网络）"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"连接邮件服务器{server} 超时（网络不通或服务器没有响应）"
    if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionError):
        return f"邮件服务器{server} 断开了连接"
    if isinstance(exc, ssl.SSLError):
        return (
            f"与邮件服务器{server} 建立加密连接失败：请检查 smtp.security"
            "（465 端口一般用 ssl，587 用 starttls）"
        )
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"无法连接邮件服务器{server}（{exc.strerror or type(exc).__name__}）"
    return f"与邮件服务器{server} 通信失败（{type(exc).__name__}）"


def _reply(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


# -- the SMTP sender -------------------------------------------------------------------------


class SmtpSender:
    """Sends batches over one yagmail/smtplib connection, with a rate limit and retries."""

    def __init__(
        self,
        settings: SmtpSettings,
        password: str | None = None,
        *,
        archive: MessageArchive | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self._password = password if password is not None else settings.resolve_password()
        if settings.user and not self._password:
            raise ConfigError(
                f"smtp.user is set but there is no SMTP password: set {settings.password_env} "
                "or pass one (e.g. from a Prefect Secret block)"
            )
        self.archive = archive
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._yag: Any = None
        self._next_send = 0.0
        self._sent_in_batch = 0
        self._spent = 0.0  # seconds of this batch spent on failed attempts and back-off
        self.logins = 0  # connections opened and logged in (for operators and tests)

    def __repr__(self) -> str:
        s = self.settings
        return f"SmtpSender({s.security}://{s.user or ''}@{s.host}:{s.port})"

    # connection -----------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if not self.settings.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _connect(self) -> smtplib.SMTP:
        if self._yag is not None:
            return self._yag.smtp
        import yagmail

        s = self.settings
        # never wait on one connection attempt longer than the batch's retry budget allows
        timeout = max(1.0, min(s.timeout, s.retry_budget_seconds - self._spent))
        extra: dict[str, Any] = {"timeout": timeout}
        if s.security == "ssl":
            extra["context"] = self._tls_context()
        starttls: Any = {"context": self._tls_context()} if s.security == "starttls" else False
        try:
            yag = yagmail.SMTP(
                user=s.user or s.sender,
                password=self._password or "",  # explicit: never keyring, never a prompt
                host=s.host,
                port=s.port,
                smtp_ssl=s.security == "ssl",
                smtp_starttls=starttls,
                smtp_skip_login=not s.user,
                soft_email_validation=False,
                **extra,
            )
            yag.log = logging.getLogger(f"{__name__}.yagmail")  # not yagmail's stderr handler
            yag.login()
        except Exception as exc:
            raise translate_error(exc, host=s.host, port=s.port, user=s.user) from None
        self._yag = yag
        self.logins += 1
        log.info("SMTP connected to %s:%s (%s) as %s", s.host, s.port, s.security, s.user or "-")
        return yag.smtp

    def _disconnect(self) -> None:
        yag, self._yag = self._yag, None
        if yag is None:
            return
        with contextlib.suppress(Exception):  # closing a dead connection: nothing to do
            yag.close()

    # sending --------------------------------------------------------------------------------

    def send(
        self,
        mails: Sequence[OutgoingMail],
        *,
        before_send: Callable[[OutgoingMail], object] | None = None,
        on_result: Callable[[SendResult], None] | None = None,
    ) -> list[SendResult]:
        results: list[SendResult] = []
        self._sent_in_batch = 0
        self._spent = 0.0
        try:
            for index, mail in enumerate(mails):
                if before_send and before_send(mail) is False:
                    continue  # withheld by the caller
                result, unreachable = self._send_one(mail)
                results.append(result)
                if on_result:
                    on_result(result)
                if unreachable:
                    for rest in mails[index + 1 :]:
                        skipped = _result(
                            rest,
                            "failed",
                            error=f"not attempted: {result.error}",
                            error_zh=f"未发送：{result.error_zh}",
                            attempts=0,
                        )
                        results.append(skipped)
                        if on_result:
                            on_result(skipped)
                    break
        finally:
            self._disconnect()
        sent = sum(r.ok for r in results)
        log.info("SMTP batch: %d sent, %d failed", sent, len(results) - sent)
        return results

    def _throttle(self) -> None:
        rate = self.settings.rate_per_minute
        if not rate:
            return
        now = self._clock()
        if self._next_send > now:
            self._sleep(self._next_send - now)
            now = self._next_send
        self._next_send = now + 60.0 / rate

    def _backoff(self, attempt: int) -> float:
        base = self.settings.backoff_seconds * (2 ** (attempt - 1))
        return min(_MAX_BACKOFF, base * (0.5 + self._rng()))  # jitter: 50–150 %

    def _retry_wait(self, attempt: int) -> float | None:
        """The back-off before the next attempt, or None when the retries or the batch's
        retry budget are used up (the mail fails now; the next run tries again)."""
        if attempt > self.settings.retries:
            return None
        wait = self._backoff(attempt)
        if self._spent + wait > self.settings.retry_budget_seconds:
            log.warning(
                "retry budget of %.0f s used up (%.1f s spent): not retrying",
                self.settings.retry_budget_seconds,
                self._spent,
            )
            return None
        return wait

    def _send_one(self, mail: OutgoingMail) -> tuple[SendResult, bool]:
        """The result, and whether the server is unreachable (the batch stops)."""
        s = self.settings
        try:
            raw = render_message(
                mail, sender=s.sender, sender_name=s.sender_name, reply_to=s.reply_to
            )
            recipients = [_check_address(a) for a in mail.recipients]
        except ValueError as exc:
            log.warning("mail %s not sent: %s", mail.message_id, exc)
            zh = f"邮件内容或地址有误，未发送（{exc}）"
            return _result(mail, "failed", permanent=True, error=str(exc), error_zh=zh), False
        attempt = 0
        while True:
            attempt += 1
            connecting = True
            self._throttle()
            started = self._clock()
            try:
                conn = self._connect()
                connecting = False
                refused = conn.sendmail(s.sender, recipients, raw)
            except Exception as exc:
                err = translate_error(exc, host=s.host, port=s.port)
                self._spent += max(0.0, self._clock() - started)
                if err.connection_lost:
                    self._disconnect()
                log.warning(
                    "mail %s to %s, attempt %d: %s", mail.message_id, recipients, attempt, err
                )
                if connecting and not self._sent_in_batch and (err.permanent or err.auth):
                    raise err from None  # cannot connect or log in: nothing can be sent
                if err.auth:
                    raise err from None
                if err.permanent:
                    return self._failed(mail, err, attempt), connecting
                wait = self._retry_wait(attempt)
                if wait is None:
                    if connecting and not self._sent_in_batch:
                        raise err from None
                    return self._failed(mail, err, attempt), connecting
                self._sleep(wait)
                self._spent += wait
                continue
            self._sent_in_batch += 1
            archived = self.archive.store(raw).path if self.archive else None
            partial = {a: (c, _reply(m)) for a, (c, m) in (refused or {}).items()}
            if partial:
                log.warning("mail %s: some recipients refused: %s", mail.message_id, partial)
            log.info("sent %s (%s) to %s", mail.message_id, mail.kind or "-", recipients)
            result = _result(
                mail,
                "sent",
                attempts=attempt,
                refused=partial,
                sent_at=datetime.now(UTC),
                archived=str(archived) if archived else None,
            )
            return result, False

    def _failed(self, mail: OutgoingMail, err: SmtpError, attempts: int) -> SendResult:
        return _result(
            mail,
            "failed",
            permanent=err.permanent,
            smtp_code=err.smtp_code,
            smtp_reply=err.smtp_reply,
            refused=err.refused,
            error=err.message,
            error_zh=err.reason_zh,
            attempts=attempts,
        )


def _result(mail: OutgoingMail, status: Literal["sent", "failed"], **kw: Any) -> SendResult:
    return SendResult(
        message_id=mail.message_id,
        recipients=mail.recipients,
        status=status,
        campaign=mail.campaign,
        department=mail.department,
        kind=mail.kind,
        **kw,
    )


# -- the in-memory fake ----------------------------------------------------------------------


class RecordingSender:
    """An in-memory :class:`MailSender` for fast flow tests: records, never connects.

    ``refuse`` maps addresses to ``(code, reply)``: mails to them fail like a server refusal
    (permanent when the code is 5xx). Every batch is rendered, so malformed mails fail here too.
    """

    def __init__(
        self,
        refuse: Mapping[str, tuple[int, str]] | None = None,
        *,
        sender: str = "nianbao@example.org",
    ) -> None:
        self.refuse = {k.lower(): v for k, v in (refuse or {}).items()}
        self.sender = sender
        self.sent: list[OutgoingMail] = []
        self.raw: dict[str, bytes] = {}  # Message-ID → rendered message
        self.results: list[SendResult] = []
        self.batches = 0

    def send(
        self,
        mails: Sequence[OutgoingMail],
        *,
        before_send: Callable[[OutgoingMail], object] | None = None,
        on_result: Callable[[SendResult], None] | None = None,
    ) -> list[SendResult]:
        self.batches += 1
        out = []
        for mail in mails:
            if before_send and before_send(mail) is False:
                continue  # withheld by the caller
            refused = {
                a: self.refuse[a.lower()] for a in mail.recipients if a.lower() in self.refuse
            }
            try:
                raw = render_message(mail, sender=self.sender)
            except ValueError as exc:
                zh = f"邮件内容或地址有误，未发送（{exc}）"
                result = _result(mail, "failed", permanent=True, error=str(exc), error_zh=zh)
            else:
                if refused and len(refused) == len(mail.recipients):
                    code, reply = next(iter(refused.values()))
                    result = _result(
                        mail,
                        "failed",
                        permanent=code >= 500,
                        smtp_code=code,
                        smtp_reply=reply,
                        refused=refused,
                        attempts=1,
                        error="every recipient was refused",
                        error_zh=f"收件地址被拒收：{'、'.join(refused)}（{code} {reply}）",
                    )
                else:
                    self.sent.append(mail)
                    self.raw[mail.message_id] = raw
                    result = _result(
                        mail, "sent", refused=refused, attempts=1, sent_at=datetime.now(UTC)
                    )
            self.results.append(result)
            out.append(result)
            if on_result:
                on_result(result)
        return out

    def to(self, address: str) -> list[OutgoingMail]:
        """Mails sent to ``address`` (to, cc or bcc)."""
        return [m for m in self.sent if address.lower() in (r.lower() for r in m.recipients)]
