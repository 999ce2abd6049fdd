"""Opaque-signed S/MIME (RFC 8551 §3.5.2): the signed MIME entity inside a CMS SignedData.

asn1crypto reads the structure; `cryptography` checks the signature with the certificate the
message carries. That says the content is what the holder of that certificate signed, not who
the holder is: no certificate is checked against trusted authorities, and the note says so.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_NAME_CHARS = 200  # of a certificate's name, in the note


@dataclass(frozen=True)
class SignedContent:
    content: bytes  # the signed MIME entity: its own headers, then its body
    note: str  # what the signature check found, for the ticket text


def unwrap_signed(der: bytes) -> SignedContent:
    """The content of a SignedData and the result of checking its signature; ValueError when
    the bytes are no SignedData with its content inside."""
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise ValueError(f"CMS content is {info['content_type'].native}, not signed data")
        signed = info["content"]
        content = signed["encap_content_info"]["content"].native
    except ValueError:
        raise
    # asn1crypto on hostile bytes: whatever it raises, the smime.p7m is kept instead.
    except Exception as exc:
        raise ValueError(f"S/MIME structure could not be read ({type(exc).__name__})") from exc
    if not isinstance(content, bytes):
        raise ValueError("S/MIME signed data carries no content (a detached signature)")
    return SignedContent(content, _checked(signed, content))


def _checked(signed: cms.SignedData, content: bytes) -> str:
    try:
        infos = list(signed["signer_infos"])
        if not infos:
            return "S/MIME: signed data without a signer; nothing to check."
        signer = infos[0]
        cert = _certificate(signed, signer["sid"])
        if cert is None:
            return "S/MIME: the signer's certificate is not in the message; signature not checked."
        who = _holder(cert)
        verdict = _verify(signer, content, cert)
    except Exception as exc:  # a malformed signer or certificate: the content is still shown
        return f"S/MIME: signature not checked ({type(exc).__name__} reading the signer)."
    return f"S/MIME: signed by {who}; {verdict}"


def _certificate(signed: cms.SignedData, sid: cms.SignerIdentifier) -> x509.Certificate | None:
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            ids = sid.chosen
            if cert.issuer == ids["issuer"] and cert.serial_number == ids["serial_number"].native:
                return x509.load_der_x509_certificate(cert.dump())
        elif cert.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(cert.dump())
    return None


def _holder(cert: x509.Certificate) -> str:
    names = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = [str(e) for e in san.get_values_for_type(x509.RFC822Name)]
    except x509.ExtensionNotFound:
        emails = []
    emails = emails or [
        str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.EMAIL_ADDRESS)
    ]
    name = str(names[0]) if names else ""
    email = str(emails[0]) if emails else ""
    holder = f"{name} <{email}>" if name and email else name or email or "an unnamed holder"
    return holder[:_NAME_CHARS]


def _verify(signer: cms.SignerInfo, content: bytes, cert: x509.Certificate) -> str:
    digest = signer["digest_algorithm"]["algorithm"].native
    algorithm = _HASHES.get(digest)
    if algorithm is None:
        return f"signature not checked (digest {digest} unsupported)."
    signed_bytes = content
    attributes = signer["signed_attrs"]
    if attributes.native:
        # RFC 5652 §5.4: the signature covers the attributes, re-tagged as a SET OF, and the
        # attributes carry the content's digest.
        wanted = [a["values"][0].native for a in attributes if a["type"].native == "message_digest"]
        if not wanted or wanted[0] != hashlib.new(digest, content).digest():
            return "the content does NOT match its signature (changed after signing)."
        signed_bytes = b"\x31" + attributes.dump()[1:]
    try:
        _check_signature(cert, signer, signed_bytes, algorithm())
    except InvalidSignature:
        return "the signature does NOT match the content (changed after signing)."
    except ValueError as exc:
        return f"signature not checked ({exc})."
    return (
        "the signature matches the content (certificate not checked against trusted authorities)."
    )


def _check_signature(
    cert: x509.Certificate, signer: cms.SignerInfo, data: bytes, algorithm: hashes.HashAlgorithm
) -> None:
    key = cert.public_key()
    signature = signer["signature"].native
    scheme = signer["signature_algorithm"].signature_algo
    if isinstance(key, rsa.RSAPublicKey) and scheme == "rsassa_pkcs1v15":
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, rsa.RSAPublicKey) and scheme == "rsassa_pss":
        pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
        key.verify(signature, data, pss, algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey) and scheme == "ecdsa":
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise ValueError(f"signature scheme {scheme} unsupported")
