"""Fetching mail from IMAP mailboxes (`[[imap]]` accounts) into the spool.

`poller` runs the accounts (the service `poll_imap`), `client` is the aioimaplib adapter,
`wire` reads and writes IMAP syntax, `credentials` reads passwords and access tokens, `state`
keeps each folder's UIDVALIDITY and last UID in `imap_state`.
"""

from maild.ingest.imap.poller import AfterCommit, Inbox, Pacing, poll_account, poll_imap

__all__ = ["AfterCommit", "Pacing", "Inbox", "poll_account", "poll_imap"]
