"""Frozen settings: the configuration as typed values, passed down explicitly (never global).

`maild.config` builds a `Settings` from the TOML file and `MAILD_<SECTION>_<KEY>` overrides;
each layer takes only the part it needs (`TicketSettings` for the core, `IngestLimits` for the
parser, ...). Defaults here are the defaults of the product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from maild.values import Mode, RelaySecurity, ReplyPolicy, Role


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///var/maild.db"


@dataclass(frozen=True)
class SmtpSettings:
    listen: str = "127.0.0.1:2525"
    enabled: bool = True
    hostname: str = ""  # the name in the greeting and the EHLO reply; "" = this machine's FQDN
    # RFC 5321 §4.5.3.2.7: wait 5 minutes for a command; also the bound on one whole DATA.
    timeout_seconds: int = 300
    max_line_bytes: int = 1000  # RFC 5321 §4.5.3.1.6: 998 characters and CRLF
    max_recipients: int = 100  # per mail; RFC 5321 §4.5.3.1.8: at least 100 must be accepted
    max_connections: int = 100  # sessions at once; more are told 421 and closed
    tls_cert: str = ""  # PEM files; both set = STARTTLS is offered
    tls_key: str = ""
    proxy_protocol: bool = False  # expect a PROXY header (behind a TCP load balancer)


@dataclass(frozen=True)
class LmtpSettings:
    socket: str = ""  # path of the LMTP Unix socket (for Postfix's lmtp:unix:); "" = none


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"  # one JSON object per line, for log shippers


@dataclass(frozen=True)
class LogSettings:
    level: LogLevel = LogLevel.INFO
    format: LogFormat = LogFormat.TEXT


@dataclass(frozen=True)
class ApiSettings:
    listen: str = "127.0.0.1:8080"
    enabled: bool = True


@dataclass(frozen=True)
class OutboundSettings:
    enabled: bool = True  # run the delivery worker in `maild serve`
    relay: str = ""  # host:port; empty = write .eml files to outbox_dir
    relay_security: RelaySecurity = RelaySecurity.STARTTLS
    relay_username: str = ""  # empty = no AUTH
    relay_password: str = ""  # better: MAILD_OUTBOUND_RELAY_PASSWORD or relay_password_file
    relay_password_file: str = ""
    relay_ca_file: str = ""  # trust this CA for the relay's certificate (else the system's)
    relay_timeout_seconds: int = 60
    outbox_dir: str = "var/outbox"
    from_address: str = "support@example.com"
    domain: str = "example.com"  # for Message-IDs and VERP (bounces+TOKEN@domain)
    max_attachment_bytes: int = 2 * 1024 * 1024
    max_attempts: int = 8
    retry_base_ms: int = 60_000  # first retry after about this long, doubling each time ...
    retry_cap_ms: int = 3_600_000  # ... up to this
    lease_seconds: int = 300  # a claimed mail its worker did not finish (killed) is retried then
    poll_ms: int = 2_000  # how often to look for mail queued by another process
    dkim_selector: str = ""  # DKIM signing when selector and key file are both set
    dkim_key_file: str = ""
    dkim_domain: str = ""  # the d= domain; empty = `domain`


@dataclass(frozen=True)
class TicketSettings:
    prefix: str = "SUP"
    number_format: str = "{prefix}-{seq:06d}"
    subject_tag: str = "[#{number}]"
    reply_policy: ReplyPolicy = ReplyPolicy.PARTICIPANTS_OR_TOKEN
    purge_deleted_after_days: int = 90
    default_department: str = ""  # for mail that names no department address

    def format_number(self, seq: int) -> str:
        return self.number_format.format(prefix=self.prefix, seq=seq)

    def tag(self, number: str) -> str:
        return self.subject_tag.format(number=number)


@dataclass(frozen=True)
class IngestLimits:
    max_message_bytes: int = 25 * 1024 * 1024
    max_header_bytes: int = 256 * 1024
    max_headers: int = 1000
    max_mime_depth: int = 20
    max_parts: int = 500
    max_attachment_bytes: int = 20 * 1024 * 1024
    max_attempts: int = 3  # processing attempts before a message is held
    # The pipeline worker also looks for unprocessed spool rows this often: rows spooled by
    # another process on the same database, or left by a crash.
    poll_seconds: int = 10
    # Issue 13: copies of one mail (same Message-ID, same sender) received within this window
    # are one mail, the later ones recorded as duplicate deliveries; 0 turns this off.
    duplicate_window_minutes: int = 1440


@dataclass(frozen=True)
class AutoresponderSettings:
    max_per_sender: int = 3  # at most this many autoresponses to one sender (user+tag = user) ...
    max_per_domain: int = 100  # ... and to one sender domain (local parts cost nothing) ...
    window_minutes: int = 60  # ... within this window


@dataclass(frozen=True)
class AuthSettings:
    """`[auth]`: who really wrote a mail (SPF, DKIM, DMARC; issue 12)."""

    # Check SPF, DKIM and DMARC over DNS for mail received over SMTP (the client IP is known).
    # Off by default: it needs a resolver that answers. Off or not, an agent's address in From
    # changes a ticket only when authenticated or carrying the ticket's token.
    check_dns: bool = False
    nameserver: str = ""  # the DNS server to ask (an IP address); "" = the system's resolvers
    port: int = 53
    timeout_seconds: int = 3  # per DNS lookup; SPF's whole evaluation gets twice this
    # The authserv-id of an MTA in front whose Authentication-Results header maild believes
    # (RFC 8601): used for LMTP, IMAP and file imports, where maild saw no connection itself.
    trusted_authserv_id: str = ""


@dataclass(frozen=True)
class SchedulerSettings:
    """`[scheduler]`: how often `maild serve` runs each periodic job, in seconds. The state
    the jobs act on is in the database, so any interval (and any number of processes) is safe."""

    enabled: bool = True  # run the jobs in `maild serve` (`maild jobs run` works either way)
    followups_seconds: int = 60
    auto_close_seconds: int = 300
    queue_drain_seconds: int = 60
    rebalance_seconds: int = 60  # how often to look whether a group's rebalance time passed
    queue_alert_seconds: int = 60
    purge_seconds: int = 3600
    compress_seconds: int = 3600
    compress_after_hours: int = 24  # DESIGN §1: raw bytes compressed after 1 day idle
    batch: int = 500  # rows one job changes per transaction

    def interval(self, job: str) -> int:
        return int(getattr(self, f"{job}_seconds"))


@dataclass(frozen=True)
class BrandConfig:
    name: str
    from_name: str = ""
    signature: str = ""


@dataclass(frozen=True)
class DepartmentTemplates:
    """A department's own versions of the shipped mail templates (`templates/*.j2`);
    "" = the shipped one."""

    reply_text: str = ""
    reply_html: str = ""
    forward_text: str = ""
    forward_html: str = ""
    queue_alert_subject: str = ""
    queue_alert_text: str = ""
    queue_alert_html: str = ""


@dataclass(frozen=True)
class DepartmentConfig:
    name: str
    addresses: tuple[str, ...]
    brand: str = ""
    default_group: str = ""
    autoresponder: bool = False  # on with the shipped template; a body of its own also turns it on
    autoresponder_subject: str = ""
    autoresponder_body: str = ""
    autoresponder_html: str = ""
    auto_close_after_minutes: int | None = None
    # A web form's mail is From the form and Reply-To the customer: a Reply-To naming one
    # mailbox makes it the requester. Off: the From address is, as for any other mail.
    reply_to_is_requester: bool = True
    templates: DepartmentTemplates = field(default_factory=DepartmentTemplates)

    @property
    def autoresponder_enabled(self) -> bool:
        return self.autoresponder or bool(self.autoresponder_body)


@dataclass(frozen=True)
class MemberConfig:
    agent: str
    mode: Mode = Mode.PRIMARY
    max_tickets: int | None = None
    receiving: bool = True


@dataclass(frozen=True)
class GroupConfig:
    name: str
    department: str
    members: tuple[MemberConfig, ...] = ()
    rebalance: bool = False
    rebalance_pinned: bool = False
    rebalance_times: tuple[str, ...] = ()
    queue_alert_after_minutes: int | None = None


@dataclass(frozen=True)
class AgentConfig:
    name: str
    email: str = ""
    display_name: str = ""
    role: Role = Role.AGENT


class ImapSecurity(StrEnum):
    TLS = "tls"  # implicit TLS, port 993
    STARTTLS = "starttls"  # plain connection upgraded before login, port 143
    NONE = "none"  # no encryption: only for a server on this machine (a config check)


class ImapAuth(StrEnum):
    PASSWORD = "password"
    XOAUTH2 = "xoauth2"  # an OAuth 2.0 access token (Microsoft 365, Gmail)


class AfterKind(StrEnum):
    SEEN = "seen"
    MOVE = "move"
    DELETE = "delete"


@dataclass(frozen=True)
class AfterIngest:
    """What happens to a fetched message once it is safely in the spool."""

    kind: AfterKind
    folder: str = ""  # the target of `move`

    @classmethod
    def parse(cls, text: str) -> AfterIngest | None:
        """`seen`, `delete` or `move:FOLDER`; None when `text` is none of these."""
        kind, sep, folder = text.partition(":")
        if kind == AfterKind.MOVE and sep and folder:
            return cls(AfterKind.MOVE, folder)
        if not sep and kind in (AfterKind.SEEN, AfterKind.DELETE):
            return cls(AfterKind(kind))
        return None


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox folder maild fetches mail from (`[[imap]]`)."""

    name: str  # names the account in logs, in the spool's `source` and in `imap_state`
    host: str
    user: str
    port: int | None = None  # None: 993 with tls, 143 otherwise
    security: ImapSecurity = ImapSecurity.TLS
    ca_file: str = ""  # PEM file of the CAs to trust; "" = the system's
    auth: ImapAuth = ImapAuth.PASSWORD
    password_env: str = ""  # the password is read from this environment variable ...
    password_file: str = ""  # ... or from this file, at every login
    token_file: str = ""  # XOAUTH2: the access token is read from this file ...
    token_command: tuple[str, ...] = ()  # ... or is what this command prints (argv, no shell)
    folder: str = "INBOX"
    department: str = ""  # its mail goes to this department; "" = by recipient address
    after: str = "seen"  # after the spool commit: seen, move:FOLDER or delete
    poll_seconds: int = 60  # between polls, when the server does not offer IDLE
    timeout_seconds: int = 60  # for every command and for the connection

    @property
    def server_port(self) -> int:
        if self.port is not None:
            return self.port
        return 993 if self.security is ImapSecurity.TLS else 143

    @property
    def after_ingest(self) -> AfterIngest:
        parsed = AfterIngest.parse(self.after)
        if parsed is None:  # the config checks reject such a value at start
            raise ValueError(f"imap account {self.name}: bad `after` {self.after!r}")
        return parsed


@dataclass(frozen=True)
class Settings:
    source: str = "<defaults>"
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    lmtp: LmtpSettings = field(default_factory=LmtpSettings)
    log: LogSettings = field(default_factory=LogSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    tickets: TicketSettings = field(default_factory=TicketSettings)
    ingest: IngestLimits = field(default_factory=IngestLimits)
    autoresponder: AutoresponderSettings = field(default_factory=AutoresponderSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    brands: tuple[BrandConfig, ...] = ()
    departments: tuple[DepartmentConfig, ...] = ()
    groups: tuple[GroupConfig, ...] = ()
    agents: tuple[AgentConfig, ...] = ()
    imap: tuple[ImapAccount, ...] = ()
