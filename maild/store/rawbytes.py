"""How a message's raw bytes are kept: as received, then zlib-compressed once its ticket has
been idle for a day (DESIGN §1 Items). Every reader goes through `unpack`, so a compressed row
reads back byte-identical wherever raw bytes are read (reprocess, the API's raw download).

zlib (stdlib) rather than zstd: mail is mostly text and base64, where zlib at level 6 already
takes most of what there is to take, and zstd would be one more compiled dependency.
"""

from __future__ import annotations

import zlib

LEVEL = 6  # zlib's default: near level 9's ratio on mail at a fraction of its time


def pack(data: bytes) -> bytes:
    return zlib.compress(data, LEVEL)


def unpack(data: bytes, compressed: bool) -> bytes:
    return zlib.decompress(data) if compressed else data
