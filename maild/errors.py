"""The project's exception tree. Each edge maps it to its protocol: SMTP 4xx/5xx, HTTP 4xx,
CLI exit code and a one-line message. Messages say what is wrong and what to fix."""


class MaildError(Exception):
    """Base of every error maild raises on purpose."""


class ConfigError(MaildError):
    """The configuration file or an environment override is wrong (file, key and reason)."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(f"{source}: {key}: {reason}")
        self.source = source
        self.key = key
        self.reason = reason


class NotFound(MaildError):
    """A ticket, group, agent or other named thing does not exist."""


class InvalidRequest(MaildError):
    """The request breaks a domain rule (merge of 11 tickets, follow-up in the past, ...)."""


class Conflict(MaildError):
    """The request clashes with the current state (ticket is closed and locked, already taken)."""


class PermissionDenied(MaildError):
    """The caller may not do this (not a member of the group, wrong role)."""


class MessageRejected(MaildError):
    """An incoming message breaks a limit or cannot be accepted; `reason` is shown to the sender."""


class StorageError(MaildError):
    """The database could not be opened, migrated or written."""


class CredentialsError(MaildError):
    """A password or access token could not be read: an unset variable, an unreadable file, a
    token command that failed or printed nothing."""


class ImapError(MaildError):
    """An IMAP server could not be used: unreachable, TLS failed, a command was refused or went
    unanswered, the connection dropped. The poller logs it and reconnects with backoff."""


class ImapAuthError(ImapError):
    """The IMAP server refused the login (a wrong password, an expired or revoked token)."""


class ImapMessageError(ImapError):
    """One message cannot be taken (gone, over the size limit, refused by the database); it
    is left in its folder and the others go on."""


class DeliveryFailed(MaildError):
    """The relay did not take an outgoing mail: `permanent` for a 5xx answer, else a 4xx or a
    connection fault that is worth another try."""

    def __init__(self, reason: str, permanent: bool) -> None:
        super().__init__(reason)
        self.permanent = permanent
