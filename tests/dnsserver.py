"""A real DNS server on loopback (dnslib, UDP) holding the test domains' SPF, DKIM and DMARC
records, so sender authentication is tested over the wire as an MTA would do it.

Names not in the zone answer NXDOMAIN; a name with records of other types answers no data.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.support import free_port


def txt(text: str | bytes) -> TXT:
    """A TXT record; text over 255 bytes split into strings as RFC 7208 §3.3 allows."""
    data = text.encode() if isinstance(text, str) else text
    return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])


class Zone(BaseResolver):  # type: ignore[misc]
    def __init__(self, records: Mapping[str, Sequence[Any]]) -> None:
        # name -> rdata (TXT records only: SPF, DKIM keys, DMARC policies)
        self.records = {name.lower().rstrip("."): list(rdata) for name, rdata in records.items()}
        self.asked: list[str] = []

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        self.asked.append(f"{name} {QTYPE[request.q.qtype]}")
        if name not in self.records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for rdata in self.records[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=rdata, ttl=60))
        return reply


@dataclass
class Dns:
    port: int
    zone: Zone
    nameserver: str = "127.0.0.1"


@contextmanager
def dns_server(records: Mapping[str, Sequence[Any]]) -> Iterator[Dns]:
    zone = Zone(records)
    port = free_port()
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    server = DNSServer(zone, port=port, address="127.0.0.1", logger=quiet)
    server.start_thread()
    try:
        yield Dns(port, zone)
    finally:
        server.stop()


@dataclass(frozen=True)
class DkimKey:
    private_pem: bytes
    record: str  # the TXT record of `<selector>._domainkey.<domain>`


def dkim_key(directory: Path) -> DkimKey:
    """A fresh 1024-bit RSA key (its TXT record fits a UDP answer) made with openssl."""
    key = directory / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True,
                   capture_output=True)  # fmt: skip
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return DkimKey(key.read_bytes(), "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode())
