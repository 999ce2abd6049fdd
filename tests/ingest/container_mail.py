"""Builders for the containers of issue 13 item 7: TNEF (winmail.dat) and opaque S/MIME.

No library writes TNEF, so `tnef` writes the stream Outlook writes ([MS-OXTNEF]): the
message-level attributes, then per file its rendering data, title, dates, bytes and MAPI
properties (the long Unicode file name among them). `signed_data` signs with a throw-away
certificate through `cryptography`, as Outlook's "opaque signed" sends it.

`python -m tests.ingest.container_mail` wrote the committed fixtures once; the hostile tests
use the same builders to break them.
"""

from __future__ import annotations

import base64
import datetime as dt
import struct
from dataclasses import dataclass

TNEF_SIGNATURE = 0x223E9F78
MESSAGE, ATTACHMENT = 1, 2
# [MS-OXTNEF] 2.1.3.1: the attribute id's high word is its type.
ATT_TNEF_VERSION = 0x00089006
ATT_OEM_CODEPAGE = 0x00069007
ATT_MESSAGE_CLASS = 0x00078008
ATT_PRIORITY = 0x0004800D
ATT_DATE_SENT = 0x00038005
ATT_MSG_PROPS = 0x00069003
ATT_ATTACH_REND_DATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_CREATE_DATE = 0x00038012
ATT_ATTACH_MODIFY_DATE = 0x00038013
ATT_ATTACH_DATA = 0x0006800F
ATT_ATTACHMENT = 0x00069005
PT_LONG, PT_STRING8, PT_UNICODE, PT_BINARY = 0x0003, 0x001E, 0x001F, 0x0102


@dataclass(frozen=True)
class TnefFile:
    title: str  # attAttachTitle, in the ANSI code page
    long_name: str  # PR_ATTACH_LONG_FILENAME, Unicode
    mime_tag: str
    data: bytes


def tnef_attribute(level: int, attribute: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", checksum)


def mapi_props(*props: tuple[int, int, bytes | str | int]) -> bytes:
    """A MAPI property list: (type, id, value); strings and binaries as one-value arrays."""
    out = struct.pack("<I", len(props))
    for kind, prop_id, value in props:
        out += struct.pack("<HH", kind, prop_id)
        if kind == PT_LONG:
            out += struct.pack("<i", int(value))
            continue
        if isinstance(value, str):
            value = value.encode("utf-16-le" if kind == PT_UNICODE else "cp1252")
            value += b"\0\0" if kind == PT_UNICODE else b"\0"
        assert isinstance(value, bytes)
        out += struct.pack("<II", 1, len(value)) + value + b"\0" * (-len(value) % 4)
    return out


def _date(when: dt.datetime) -> bytes:
    return struct.pack("<7H", when.year, when.month, when.day, when.hour, when.minute,
                       when.second, when.isoweekday() % 7)  # fmt: skip


def tnef(files: list[TnefFile], when: dt.datetime, key: int = 0x4A21) -> bytes:
    """A winmail.dat as Outlook 16 writes it for a rich-text mail with `files` attached."""
    rtf = b"{\\rtf1\\ansi\\ansicpg1252 Siehe Anhang.\\par}"
    # Compressed RTF's header with the "MELA" magic: the body stored uncompressed.
    compressed_rtf = struct.pack("<IIII", len(rtf) + 12, len(rtf), 0x414C454D, 0) + rtf
    out = struct.pack("<IH", TNEF_SIGNATURE, key)
    out += tnef_attribute(MESSAGE, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
    out += tnef_attribute(MESSAGE, ATT_OEM_CODEPAGE, struct.pack("<II", 1252, 0))
    out += tnef_attribute(MESSAGE, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\0")
    out += tnef_attribute(MESSAGE, ATT_PRIORITY, struct.pack("<H", 2))
    out += tnef_attribute(MESSAGE, ATT_DATE_SENT, _date(when))
    props = mapi_props((PT_LONG, 0x3FDE, 28591), (PT_BINARY, 0x1009, compressed_rtf))
    out += tnef_attribute(MESSAGE, ATT_MSG_PROPS, props)
    for position, file in enumerate(files):
        rend = struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0xFFFF, 0xFFFF, 0)
        out += tnef_attribute(ATTACHMENT, ATT_ATTACH_REND_DATA, rend)
        out += tnef_attribute(ATTACHMENT, ATT_ATTACH_TITLE, file.title.encode("cp1252") + b"\0")
        out += tnef_attribute(ATTACHMENT, ATT_ATTACH_CREATE_DATE, _date(when))
        out += tnef_attribute(ATTACHMENT, ATT_ATTACH_MODIFY_DATE, _date(when))
        out += tnef_attribute(ATTACHMENT, ATT_ATTACH_DATA, file.data)
        extension = "." + file.long_name.rsplit(".", 1)[-1]
        props = mapi_props(
            (PT_LONG, 0x3705, 1),  # PR_ATTACH_METHOD: by value
            (PT_LONG, 0x370B, -1 - position),  # PR_RENDERING_POSITION
            (PT_STRING8, 0x3703, extension),  # PR_ATTACH_EXTENSION
            (PT_UNICODE, 0x3707, file.long_name),  # PR_ATTACH_LONG_FILENAME
            (PT_UNICODE, 0x3001, file.long_name),  # PR_DISPLAY_NAME
            (PT_STRING8, 0x370E, file.mime_tag),  # PR_ATTACH_MIME_TAG
        )
        out += tnef_attribute(ATTACHMENT, ATT_ATTACHMENT, props)
    return out


def small_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (ASCII), with a correct cross-reference table."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def wrap76(data: bytes) -> str:
    """Base64 in 76-character lines, as every client writes it."""
    text = base64.b64encode(data).decode()
    return "\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def signing_identity(email: str, name: str) -> tuple[object, object, object]:
    """A CA certificate, and a signer certificate and key it issued for `email`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kunde Example Issuing CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, email),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca, cert, key


def signed_data(content: bytes, cert: object, key: object, ca: object) -> bytes:
    """An opaque CMS SignedData (DER) carrying `content`, signed with SHA-256."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hashes.SHA256())  # type: ignore[arg-type]
        .add_certificate(ca)  # type: ignore[arg-type]
    )
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


# --- the committed fixtures ------------------------------------------------------------------

_OUTLOOK_TNEF = """\
Received: from EXCH01.kunde.example (10.1.2.3) by mx.kunde.example with Microsoft SMTP
 Server id 15.1.2507.39; Mon, 2 Mar 2026 10:14:05 +0100
From: =?iso-8859-1?Q?Hans_M=FCller?= <hans.mueller@kunde.example>
To: <support@example.com>
Subject: Rechnung 4711 - bitte korrigieren
Date: Mon, 2 Mar 2026 10:14:03 +0100
Message-ID: <002401dcaa1f$5b6e2e30$124a8a90$@kunde.example>
MIME-Version: 1.0
Content-Type: multipart/mixed;
\tboundary="----=_NextPart_000_0025_01DCAA27.BD32F230"
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AdyqH1rSk5m7UO9jQ8yMrgRbWc1b3Q==
Content-Language: de
X-MS-TNEF-Correlator: 0000000089A4F2B1D3C84B4E9A7F1C2D3E4F5A6B07002400

This is a multipart message in MIME format.

------=_NextPart_000_0025_01DCAA27.BD32F230
Content-Type: text/plain;
\tcharset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Sehr geehrte Damen und Herren,

die Rechnung 4711 nennt den falschen Betrag. Die korrigierte Aufstellung =
finden Sie im Anhang.

Mit freundlichen Gr=FC=DFen
Hans M=FCller

------=_NextPart_000_0025_01DCAA27.BD32F230
Content-Type: application/ms-tnef;
\tname="winmail.dat"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
\tfilename="winmail.dat"

{winmail}

------=_NextPart_000_0025_01DCAA27.BD32F230--
"""

_OUTLOOK_SIGNED_INNER = (
    'Content-Type: multipart/mixed;\r\n\tboundary="----=_NextPart_001_0031_01DCAA29.0C5A1E60"\r\n'
    "\r\n"
    "This is a multipart message in MIME format.\r\n"
    "\r\n"
    "------=_NextPart_001_0031_01DCAA29.0C5A1E60\r\n"
    'Content-Type: text/plain;\r\n\tcharset="us-ascii"\r\n'
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "Hello,\r\n"
    "\r\n"
    "our VPN login fails since this morning. The client log is attached.\r\n"
    "\r\n"
    "Regards\r\n"
    "Jane Doe\r\n"
    "\r\n"
    "------=_NextPart_001_0031_01DCAA29.0C5A1E60\r\n"
    'Content-Type: text/plain;\r\n\tname="vpn-client.log"\r\n'
    "Content-Transfer-Encoding: 7bit\r\n"
    'Content-Disposition: attachment;\r\n\tfilename="vpn-client.log"\r\n'
    "\r\n"
    "2026-03-02 08:01:12 connect gw.kunde.example\r\n"
    "2026-03-02 08:01:13 auth failed: certificate expired\r\n"
    "\r\n"
    "------=_NextPart_001_0031_01DCAA29.0C5A1E60--\r\n"
)

_OUTLOOK_SIGNED = """\
From: "Doe, Jane" <jane.doe@kunde.example>
To: <support@example.com>
Subject: VPN login fails
Date: Mon, 2 Mar 2026 10:31:44 +0100
Message-ID: <003001dcaa21$b6d3a1f0$2479e5d0$@kunde.example>
MIME-Version: 1.0
Content-Type: application/pkcs7-mime;
\tsmime-type=signed-data;
\tname="smime.p7m"
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
\tfilename="smime.p7m"
X-Mailer: Microsoft Outlook 16.0
Thread-Index: AdyqIa8dV0n3kQ2bT1mP0x7yK4L6Zw==
Content-Language: en-us

{p7m}

"""

_OUTLOOK_INVITE_ICS = (
    "BEGIN:VCALENDAR\r\n"
    "METHOD:REQUEST\r\n"
    "PRODID:Microsoft Exchange Server 2010\r\n"
    "VERSION:2.0\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:W. Europe Standard Time\r\n"
    "BEGIN:STANDARD\r\n"
    "DTSTART:16010101T030000\r\n"
    "TZOFFSETFROM:+0200\r\n"
    "TZOFFSETTO:+0100\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n"
    "END:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "DTSTART:16010101T020000\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\n"
    "END:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\n"
    'ORGANIZER;CN="M\u00fcller, Hans":mailto:hans.mueller@kunde.example\r\n'
    "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=support@e\r\n"
    " xample.com:mailto:support@example.com\r\n"
    "DESCRIPTION;LANGUAGE=de-DE:Hallo\\, wir m\u00f6chten die Rechnungsstellung f\u00fcr \r\n"
    " 2026 besprechen.\\n\\n\r\n"
    "UID:040000008200E00074C5B7101A82E00800000000B0C3A2F1AAAADC01000000000000000\r\n"
    " 010000000D1F2E3A4B5C6D7E8F90112233445566\r\n"
    "SUMMARY;LANGUAGE=de-DE:Abstimmung Rechnungsstellung 2026\r\n"
    "DTSTART;TZID=W. Europe Standard Time:20260310T140000\r\n"
    "DTEND;TZID=W. Europe Standard Time:20260310T150000\r\n"
    "CLASS:PUBLIC\r\n"
    "PRIORITY:5\r\n"
    "DTSTAMP:20260302T091500Z\r\n"
    "TRANSP:OPAQUE\r\n"
    "STATUS:CONFIRMED\r\n"
    "SEQUENCE:0\r\n"
    "LOCATION;LANGUAGE=de-DE:Besprechungsraum 2\\, Hauptgeb\u00e4ude\r\n"
    "X-MICROSOFT-CDO-APPT-SEQUENCE:0\r\n"
    "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n"
    "X-MICROSOFT-CDO-INTENDEDSTATUS:BUSY\r\n"
    "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n"
    "X-MICROSOFT-CDO-IMPORTANCE:1\r\n"
    "X-MICROSOFT-CDO-INSTTYPE:0\r\n"
    "X-MICROSOFT-DONOTFORWARDMEETING:FALSE\r\n"
    "X-MICROSOFT-DISALLOW-COUNTER:FALSE\r\n"
    "BEGIN:VALARM\r\n"
    "DESCRIPTION:REMINDER\r\n"
    "TRIGGER;RELATED=START:-PT15M\r\n"
    "ACTION:DISPLAY\r\n"
    "END:VALARM\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)

_OUTLOOK_INVITE = """\
From: =?iso-8859-1?Q?M=FCller=2C_Hans?= <hans.mueller@kunde.example>
To: "support@example.com" <support@example.com>
Subject: Abstimmung Rechnungsstellung 2026
Thread-Topic: Abstimmung Rechnungsstellung 2026
Thread-Index: AdyqI0t2c1Xh8VnTQe6mC5o0bHq1Bg==
Date: Mon, 2 Mar 2026 10:15:00 +0100
Message-ID: <004101dcaa23$7e1c2b40$7a5481c0$@kunde.example>
MIME-Version: 1.0
Content-Type: multipart/alternative;
\tboundary="----=_NextPart_000_0042_01DCAA2B.DFE09340"
X-Mailer: Microsoft Outlook 16.0
Content-Language: de

This is a multipart message in MIME format.

------=_NextPart_000_0042_01DCAA2B.DFE09340
Content-Type: text/plain;
\tcharset="utf-8"
Content-Transfer-Encoding: base64

{plain}

------=_NextPart_000_0042_01DCAA2B.DFE09340
Content-Type: text/calendar;
\tmethod=REQUEST;
\tcharset="utf-8"
Content-Transfer-Encoding: base64

{ics}

------=_NextPart_000_0042_01DCAA2B.DFE09340--
"""

_OUTLOOK_INVITE_PLAIN = (
    "Hallo,\r\n\r\nwir m\u00f6chten die Rechnungsstellung f\u00fcr 2026 besprechen.\r\n\r\n"
)

_GMAIL_FORWARD = """\
MIME-Version: 1.0
Date: Mon, 2 Mar 2026 11:02:17 +0100
Message-ID: <CAJ7x9yQk2hY3vPz0Lw8e1Tn5sRfUm4aXcB6dE9gH1iK2jL3mNo@mail.gmail.com>
Subject: Fwd: Your order 4711 has shipped
From: Petra Schmidt <petra.schmidt@gmail.com>
To: support@example.com
Content-Type: multipart/mixed; boundary="0000000000004f3c2b0612a9e8d1"

--0000000000004f3c2b0612a9e8d1
Content-Type: multipart/alternative; boundary="0000000000004f3c290612a9e8cf"

--0000000000004f3c290612a9e8cf
Content-Type: text/plain; charset="UTF-8"

Hello,

this mail says my parcel was delivered, but nothing arrived. Can you check
with the carrier?

Petra

--0000000000004f3c290612a9e8cf
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<div dir="ltr">Hello,<div><br></div><div>this mail says my parcel was delivered, b=
ut nothing arrived. Can you check with the carrier?</div><div><br></div><div>Petra</div></div>

--0000000000004f3c290612a9e8cf--
--0000000000004f3c2b0612a9e8d1
Content-Type: message/rfc822; name="Your order 4711 has shipped.eml"
Content-Disposition: attachment; filename="Your order 4711 has shipped.eml"
Content-ID: <f_m7q2x1ab0>
X-Attachment-Id: f_m7q2x1ab0

Delivered-To: petra.schmidt@gmail.com
Received: by 2002:a05:7300:5b14:b0:10a:8e11:5c3e with SMTP id k20csp1234567dyc;
        Fri, 27 Feb 2026 16:40:02 -0800 (PST)
Return-Path: <bounce-4711@mailer.shop.example>
From: Shop Example <noreply@shop.example>
To: petra.schmidt@gmail.com
Subject: Your order 4711 has shipped
Date: Sat, 28 Feb 2026 01:40:00 +0100
Message-ID: <order-4711-shipped@shop.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="=_shop_b1"

--=_shop_b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Your order 4711 has shipped and was delivered to your door on 28 February.
Tracking number: 1Z999AA10123456784

Thank you for shopping with us =E2=80=93 Shop Example
--=_shop_b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>Your order 4711 has shipped and was delivered to your door on 28 February.</p>
<p>Tracking number: 1Z999AA10123456784</p>
--=_shop_b1--

--0000000000004f3c2b0612a9e8d1--
"""


def _b64(text: str) -> str:
    return wrap76(text.encode("utf-8"))


def write_fixtures(folder: str) -> None:
    from pathlib import Path

    out = Path(folder)
    when = dt.datetime(2026, 3, 2, 10, 14, 3)
    pdf = small_pdf("Rechnung 4711 - korrigiert")
    files = [TnefFile("Aufstellung 4711.pdf", "Aufstellung 4711 korrigiert.pdf",
                      "application/pdf", pdf)]  # fmt: skip
    winmail = wrap76(tnef(files, when))
    (out / "outlook-winmail-dat.eml").write_text(_OUTLOOK_TNEF.format(winmail=winmail))
    ca, cert, key = signing_identity("jane.doe@kunde.example", "Jane Doe")
    p7m = signed_data(_OUTLOOK_SIGNED_INNER.encode(), cert, key, ca)
    (out / "outlook-smime-opaque-signed.eml").write_text(_OUTLOOK_SIGNED.format(p7m=wrap76(p7m)))
    invite = _OUTLOOK_INVITE.format(
        plain=_b64(_OUTLOOK_INVITE_PLAIN), ics=_b64(_OUTLOOK_INVITE_ICS)
    )
    (out / "outlook-meeting-request.eml").write_text(invite)
    (out / "gmail-forward-as-attachment.eml").write_text(_GMAIL_FORWARD)


if __name__ == "__main__":
    import sys

    write_fixtures(sys.argv[1] if len(sys.argv) > 1 else "fixtures/emails")
