"""Run by test_numbers in a separate process: allocate COUNT numbers, one transaction each,
starting at START (a Unix time, so both processes begin together), and print them."""

from __future__ import annotations

import sys
import time

from maild.settings import TicketSettings
from maild.store.db import Store
from maild.tickets.numbers import allocate_number


def main(url: str, count: int, start: float) -> None:
    store = Store.open(url)
    settings = TicketSettings()
    time.sleep(max(0.0, start - time.time()))
    for _ in range(count):
        with store.transaction() as session:
            print(allocate_number(session, settings), flush=True)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
