"""The aioimaplib adapter against a real Dovecot, where the library alone would fail."""

from __future__ import annotations

import asyncio

import pytest

from maild.ingest.imap.client import ImapClient
from maild.settings import ImapAccount, ImapSecurity
from tests.ingest.imap.dovecot import PASSWORD, USER, Dovecot
from tests.ingest.imap.helpers import Folder

pytestmark = pytest.mark.xdist_group("dovecot")


def test_a_folder_of_thousands_is_listed_without_overflowing_the_client(
    dovecot: Dovecot, folder: Folder
) -> None:
    """aioimaplib reads the lines of one network read recursively: a `UID FETCH 1:*` answer
    of thousands of lines overflows the stack and leaves the command hanging. The client asks
    with one SEARCH line and for sizes in chunks."""
    folder.fill(3000)
    account = ImapAccount(
        name="big", host="127.0.0.1", port=dovecot.port, security=ImapSecurity.NONE, user=USER
    )

    async def listing() -> tuple[list[int], int]:
        client = await ImapClient.connect(account)
        try:
            await client.login(USER, PASSWORD)
            await client.select(folder.name)
            uids = await client.uids_after(0)
            sizes = await client.sizes(uids[-50:])
            return uids, len(sizes)
        finally:
            await client.close()

    uids, sized = asyncio.run(listing())
    assert uids == list(range(1, 3001))
    assert sized == 50
