"""The pure half of sender authentication (maild.ingest.authn): DMARC records, alignment and
verdicts (RFC 7489), and reading a trusted MTA's Authentication-Results (RFC 8601)."""

from __future__ import annotations

from maild.ingest.authn import (
    AuthResult,
    DmarcRecord,
    Method,
    SenderAuth,
    dmarc_verdict,
    from_authentication_results,
    parse_dmarc_record,
)

PASS, FAIL = AuthResult.PASS, AuthResult.FAIL


def test_relaxed_alignment_accepts_a_subdomain_of_the_same_organisation() -> None:
    record = DmarcRecord("reject")
    assert dmarc_verdict("example.co.uk", record, PASS, "mail.example.co.uk", ()) == (PASS, True)
    # Public suffixes are not organisations: co.uk does not align a stranger's domain.
    assert dmarc_verdict("example.co.uk", record, PASS, "other.co.uk", ()) == (FAIL, False)


def test_strict_alignment_wants_the_same_domain() -> None:
    record = DmarcRecord("reject", strict_spf=True, strict_dkim=True)
    assert dmarc_verdict("example.org", record, PASS, "mail.example.org", ()) == (FAIL, False)
    assert dmarc_verdict("example.org", record, FAIL, "", ("example.org",)) == (PASS, True)


def test_spf_must_pass_to_count_and_no_record_gives_none() -> None:
    assert dmarc_verdict("example.org", DmarcRecord(), AuthResult.SOFTFAIL, "example.org", ()) == (
        FAIL, False,
    )  # fmt: skip
    assert dmarc_verdict("example.org", None, PASS, "example.org", ()) == (AuthResult.NONE, True)


def test_dmarc_records_are_read_as_rfc_7489_says() -> None:
    assert parse_dmarc_record("v=DMARC1; p=reject; adkim=s", False) == DmarcRecord(
        "reject", strict_dkim=True
    )
    assert parse_dmarc_record("v=DMARC1; p=none; sp=reject", True) == DmarcRecord("reject")
    assert parse_dmarc_record("v=DMARC1; p=bogus", False) == DmarcRecord("none")
    assert parse_dmarc_record("v=spf1 -all", False) is None
    assert parse_dmarc_record("p=reject; v=DMARC1", False) is None  # v= must come first


def test_only_the_trusted_authserv_ids_results_count() -> None:
    fields = [
        "mx.forger.example; dmarc=pass header.from=example.org",
        "MX.Example.COM; spf=fail smtp.mailfrom=x@example.org; dkim=pass header.d=example.org"
        " header.s=sel; dmarc=pass (p=reject) header.from=example.org",
    ]
    auth = from_authentication_results(fields, "mx.example.com", "example.org")
    assert auth.method is Method.TRUSTED_HEADER and auth.authserv_id == "mx.example.com"
    assert (auth.spf, auth.dkim, auth.dmarc) == (FAIL, PASS, PASS)
    assert auth.dkim_domains == ("example.org",) and auth.vouches_for("alice@example.org")
    assert not auth.vouches_for("alice@other.example")
    assert from_authentication_results(fields[:1], "mx.example.com", "example.org") == SenderAuth()
    assert from_authentication_results(fields, "", "example.org") == SenderAuth()


def test_unreadable_authentication_results_are_ignored() -> None:
    fields = ["mx.example.com; dmarc=", "\x00;;;", "x" * 100_000]
    assert from_authentication_results(fields, "mx.example.com", "example.org") == SenderAuth()


def test_a_verdict_survives_its_json_round_trip() -> None:
    auth = SenderAuth(Method.SMTP, "example.org", PASS, "example.org", FAIL, (), FAIL, "reject")
    assert SenderAuth.from_json(auth.as_json()) == auth
    assert SenderAuth.from_json(None) is None
