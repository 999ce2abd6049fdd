"""The config file: where it is found, what it accepts, and how each mistake is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from maild.config import load_settings
from maild.errors import ConfigError
from maild.settings import Settings
from maild.values import Mode, ReplyPolicy, Role

ROOT = Path(__file__).resolve().parent.parent

ORGANISATION = """
[[departments]]
name = "Support"
addresses = ["Support@Example.com"]

[[departments]]
name = "Sales"
addresses = ["sales@example.com"]

[[groups]]
name = "Tier 1"
department = "Support"
members = [{ agent = "alice" }, { agent = "bob", mode = "secondary", max_tickets = 5 }]

[[agents]]
name = "alice"

[[agents]]
name = "bob"
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "maild.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(tmp_path: Path, text: str, **environ: str) -> Settings:
    return load_settings(write(tmp_path, text), environ=environ)


def mistake(tmp_path: Path, text: str, **environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, **environ)
    return caught.value


def assert_names(error: ConfigError, source: str, key: str, *reason_words: str) -> None:
    """The message names the file (or variable), the key and says what is wrong."""
    message = str(error)
    assert error.source == source and error.key == key
    assert source in message and key in message
    for word in reason_words:
        assert word in error.reason


# --- finding the file ---------------------------------------------------------------------


def test_no_file_anywhere_gives_the_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.source == "<defaults>"
    assert settings.smtp.listen == "127.0.0.1:2525"
    assert settings.tickets.prefix == "SUP"


def test_maild_toml_in_the_current_directory_is_used(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "maild.toml").write_text('[smtp]\nlisten = "0.0.0.0:25"\n')
    settings = load_settings(environ={})
    assert settings.source == "maild.toml"
    assert settings.smtp.listen == "0.0.0.0:25"


def test_maild_config_variable_wins_over_the_current_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "maild.toml").write_text('[smtp]\nlisten = "0.0.0.0:25"\n')
    other = tmp_path / "other.toml"
    other.write_text('[smtp]\nlisten = "0.0.0.0:26"\n')
    settings = load_settings(environ={"MAILD_CONFIG": str(other)})
    assert settings.smtp.listen == "0.0.0.0:26"
    assert settings.source == str(other)


def test_config_option_wins_over_the_variable(tmp_path: Path) -> None:
    named = write(tmp_path, '[api]\nlisten = "127.0.0.1:9000"\n')
    settings = load_settings(named, environ={"MAILD_CONFIG": "/nowhere.toml"})
    assert settings.api.listen == "127.0.0.1:9000"


def test_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, environ={})
    assert_names(caught.value, missing, "--config", "no such file")


def test_file_named_by_maild_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"MAILD_CONFIG": missing})
    assert_names(caught.value, missing, "MAILD_CONFIG", "no such file")


# --- what the file holds ------------------------------------------------------------------


def test_example_config_loads_with_support_department_and_tier_1(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    settings = load_settings("maild.example.toml", environ={})
    assert settings.smtp.listen == "127.0.0.1:2525"
    assert settings.api.listen == "127.0.0.1:8080"
    assert settings.outbound.relay == "" and settings.outbound.outbox_dir == "var/outbox"
    assert settings.database.url == f"sqlite:///{ROOT / 'var' / 'maild.db'}"
    assert settings.tickets.prefix == "SUP"
    (support,) = settings.departments
    assert support.name == "Support" and support.addresses == ("support@example.com",)
    assert "{{ ticket.number }}" in support.autoresponder_body and support.autoresponder_subject
    assert support.auto_close_after_minutes and support.auto_close_after_minutes >= 24 * 60
    (tier1,) = settings.groups
    assert tier1.name == "Tier 1" and tier1.department == "Support"
    assert [(m.agent, m.mode) for m in tier1.members] == [
        ("alice", Mode.PRIMARY),
        ("bob", Mode.PRIMARY),
    ]


def test_organisation_is_parsed_into_typed_values(tmp_path: Path) -> None:
    settings = load(tmp_path, ORGANISATION + '\n[tickets]\nreply_policy = "any"\n')
    assert settings.tickets.reply_policy is ReplyPolicy.ANY
    bob = settings.groups[0].members[1]
    assert bob.mode is Mode.SECONDARY and bob.max_tickets == 5
    assert settings.agents[0].role is Role.AGENT
    assert settings.groups[0].members[0].max_tickets is None


def test_relative_sqlite_path_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load(tmp_path, '[database]\nurl = "sqlite:///data/x.db"\n')
    assert settings.database.url == f"sqlite:///{tmp_path / 'data' / 'x.db'}"


def test_absolute_sqlite_and_postgresql_urls_are_kept(tmp_path: Path) -> None:
    url = "postgresql://maild@db.internal/maild"
    assert load(tmp_path, f'[database]\nurl = "{url}"\n').database.url == url
    assert load(tmp_path, '[database]\nurl = "sqlite:////srv/m.db"\n').database.url == (
        "sqlite:////srv/m.db"
    )


# --- one test per kind of mistake ---------------------------------------------------------


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    error = mistake(tmp_path, "[smtp]\nlisten = 127.0.0.1:2525\n")
    assert_names(error, str(tmp_path / "maild.toml"), "(syntax)", "not valid TOML", "line 2")


def test_unknown_section(tmp_path: Path) -> None:
    error = mistake(tmp_path, "[smpt]\nlisten = '127.0.0.1:25'\n")
    assert_names(error, str(tmp_path / "maild.toml"), "smpt", "unknown section", "smtp")


def test_unknown_key(tmp_path: Path) -> None:
    error = mistake(tmp_path, "[smtp]\nlisen = '127.0.0.1:25'\n")
    assert_names(error, str(tmp_path / "maild.toml"), "smtp.lisen", "unknown key", "listen")


def test_unknown_key_in_a_member(tmp_path: Path) -> None:
    text = ORGANISATION.replace('mode = "secondary"', 'mood = "secondary"')
    error = mistake(tmp_path, text)
    assert_names(error, str(tmp_path / "maild.toml"), "groups[0].members[1].mood", "unknown key")


def test_wrong_type(tmp_path: Path) -> None:
    error = mistake(tmp_path, '[ingest]\nmax_parts = "many"\n')
    assert_names(error, str(tmp_path / "maild.toml"), "ingest.max_parts", "integer", "many")


def test_boolean_is_not_accepted_for_an_integer(tmp_path: Path) -> None:
    error = mistake(tmp_path, "[ingest]\nmax_parts = true\n")
    assert_names(error, str(tmp_path / "maild.toml"), "ingest.max_parts", "integer", "boolean")


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    error = mistake(tmp_path, 'smtp = "127.0.0.1:25"\n')
    assert_names(error, str(tmp_path / "maild.toml"), "smtp", "expected a table")


def test_non_positive_limit(tmp_path: Path) -> None:
    error = mistake(tmp_path, "[outbound]\nmax_attempts = 0\n")
    assert_names(error, str(tmp_path / "maild.toml"), "outbound.max_attempts", "at least 1")


def test_duplicate_window_may_be_zero_and_at_most_thirty_days(tmp_path: Path) -> None:
    assert (
        load(tmp_path, "[ingest]\nduplicate_window_minutes = 0\n").ingest.duplicate_window_minutes
        == 0
    )
    assert Settings().ingest.duplicate_window_minutes == 1440
    error = mistake(tmp_path, "[ingest]\nduplicate_window_minutes = 50000\n")
    key = "ingest.duplicate_window_minutes"
    assert_names(error, str(tmp_path / "maild.toml"), key, "at most 43200", "50000")
    error = mistake(tmp_path, "", MAILD_INGEST_DUPLICATE_WINDOW_MINUTES="-5")
    assert_names(error, "MAILD_INGEST_DUPLICATE_WINDOW_MINUTES", key, "at least 0")


def test_missing_required_key(tmp_path: Path) -> None:
    error = mistake(tmp_path, '[[departments]]\naddresses = ["a@example.com"]\n')
    assert_names(error, str(tmp_path / "maild.toml"), "departments[0].name", "required")


def test_bad_reply_policy(tmp_path: Path) -> None:
    error = mistake(tmp_path, '[tickets]\nreply_policy = "anyone"\n')
    assert_names(
        error, str(tmp_path / "maild.toml"), "tickets.reply_policy", "anyone", "participants"
    )


def test_bad_member_mode(tmp_path: Path) -> None:
    error = mistake(tmp_path, ORGANISATION.replace('"secondary"', '"backup"'))
    assert_names(
        error, str(tmp_path / "maild.toml"), "groups[0].members[1].mode", "backup", "not_included"
    )


def test_bad_role(tmp_path: Path) -> None:
    text = ORGANISATION.replace('name = "bob"\n', 'name = "bob"\nrole = "boss"\n')
    error = mistake(tmp_path, text)
    assert_names(error, str(tmp_path / "maild.toml"), "agents[1].role", "boss", "manager")


def test_bad_department_address(tmp_path: Path) -> None:
    error = mistake(tmp_path, ORGANISATION.replace("sales@example.com", "sales at example"))
    assert_names(error, str(tmp_path / "maild.toml"), "departments[1].addresses[0]", "not an email")


def test_bad_agent_email(tmp_path: Path) -> None:
    text = ORGANISATION.replace('name = "bob"\n', 'name = "bob"\nemail = "Bob <bob@x.org>"\n')
    error = mistake(tmp_path, text)
    assert_names(error, str(tmp_path / "maild.toml"), "agents[1].email", "not an email")


def test_duplicate_department_address_ignores_case(tmp_path: Path) -> None:
    error = mistake(tmp_path, ORGANISATION.replace("sales@example.com", "support@EXAMPLE.com"))
    assert_names(
        error, str(tmp_path / "maild.toml"), "departments[1].addresses[0]", "already", "Support"
    )


def test_duplicate_department_name(tmp_path: Path) -> None:
    error = mistake(tmp_path, ORGANISATION.replace('"Sales"', '"Support"'))
    assert_names(
        error, str(tmp_path / "maild.toml"), "departments[1].name", "already used", "departments[0]"
    )


def test_group_naming_a_missing_department(tmp_path: Path) -> None:
    error = mistake(tmp_path, ORGANISATION.replace('department = "Support"', 'department = "Ops"'))
    assert_names(error, str(tmp_path / "maild.toml"), "groups[0].department", "'Ops'", "Support")


def test_member_naming_a_missing_agent(tmp_path: Path) -> None:
    error = mistake(tmp_path, ORGANISATION.replace('agent = "bob"', 'agent = "carol"'))
    assert_names(
        error, str(tmp_path / "maild.toml"), "groups[0].members[1].agent", "'carol'", "alice"
    )


def test_member_listed_twice(tmp_path: Path) -> None:
    error = mistake(tmp_path, ORGANISATION.replace('agent = "bob"', 'agent = "alice"'))
    assert_names(error, str(tmp_path / "maild.toml"), "groups[0].members[1].agent", "twice")


def test_default_group_of_another_department(tmp_path: Path) -> None:
    text = ORGANISATION.replace('name = "Sales"\n', 'name = "Sales"\ndefault_group = "Tier 1"\n')
    error = mistake(tmp_path, text)
    assert_names(error, str(tmp_path / "maild.toml"), "departments[1].default_group", "Tier 1")


def test_department_naming_a_missing_brand(tmp_path: Path) -> None:
    text = ORGANISATION.replace('name = "Sales"\n', 'name = "Sales"\nbrand = "Acme"\n')
    error = mistake(tmp_path, text)
    assert_names(error, str(tmp_path / "maild.toml"), "departments[1].brand", "'Acme'")


def test_default_department_must_exist(tmp_path: Path) -> None:
    error = mistake(tmp_path, ORGANISATION + '\n[tickets]\ndefault_department = "Billing"\n')
    assert_names(
        error, str(tmp_path / "maild.toml"), "tickets.default_department", "Billing", "Support"
    )


@pytest.mark.parametrize("listen", ["127.0.0.1", "127.0.0.1:http", ":25", "host:70000"])
def test_malformed_listen(tmp_path: Path, listen: str) -> None:
    error = mistake(tmp_path, f'[smtp]\nlisten = "{listen}"\n')
    assert_names(error, str(tmp_path / "maild.toml"), "smtp.listen", "host:port")


def test_malformed_relay(tmp_path: Path) -> None:
    error = mistake(tmp_path, '[outbound]\nrelay = "smtp.example.com"\n')
    assert_names(error, str(tmp_path / "maild.toml"), "outbound.relay", "host:port")


@pytest.mark.parametrize(
    ("number_format", "reason"),
    [("{prefix}-{sequence}", "cannot be formatted"), ("{prefix}-1", "{seq}")],
)
def test_invalid_number_format(tmp_path: Path, number_format: str, reason: str) -> None:
    error = mistake(tmp_path, f'[tickets]\nnumber_format = "{number_format}"\n')
    assert_names(error, str(tmp_path / "maild.toml"), "tickets.number_format", reason)


@pytest.mark.parametrize("tag", ["[#]", "[#{ticket}]"])
def test_subject_tag_must_contain_number(tmp_path: Path, tag: str) -> None:
    error = mistake(tmp_path, f'[tickets]\nsubject_tag = "{tag}"\n')
    assert_names(error, str(tmp_path / "maild.toml"), "tickets.subject_tag")


def test_rebalance_time_must_be_hh_mm(tmp_path: Path) -> None:
    text = ORGANISATION.replace(
        'department = "Support"\n', 'department = "Support"\nrebalance_times = ["25:00"]\n'
    )
    error = mistake(tmp_path, text)
    assert_names(error, str(tmp_path / "maild.toml"), "groups[0].rebalance_times[0]", "HH:MM")


def test_autoresponder_template_must_be_valid_jinja(tmp_path: Path) -> None:
    text = ORGANISATION.replace(
        'name = "Sales"\n', 'name = "Sales"\nautoresponder_body = "Ticket {{ ticket.number"\n'
    )
    error = mistake(tmp_path, text)
    assert_names(error, str(tmp_path / "maild.toml"), "departments[1].autoresponder_body", "Jinja2")


def test_unsupported_database_url(tmp_path: Path) -> None:
    error = mistake(tmp_path, '[database]\nurl = "mysql://db/maild"\n')
    assert_names(error, str(tmp_path / "maild.toml"), "database.url", "mysql", "postgresql://")


# --- environment overrides ----------------------------------------------------------------


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[smtp]\nlisten = "127.0.0.1:2525"\n',
        MAILD_SMTP_LISTEN="127.0.0.1:2600",
        MAILD_API_LISTEN="0.0.0.0:8081",
        MAILD_OUTBOUND_RELAY="relay.internal:25",
        MAILD_DATABASE_URL="postgresql://maild@db/maild",
    )
    assert settings.smtp.listen == "127.0.0.1:2600"
    assert settings.api.listen == "0.0.0.0:8081"
    assert settings.outbound.relay == "relay.internal:25"
    assert settings.database.url == "postgresql://maild@db/maild"


def test_environment_values_are_converted_to_the_setting_type(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "",
        MAILD_INGEST_MAX_PARTS="42",
        MAILD_SMTP_ENABLED="false",
        MAILD_TICKETS_REPLY_POLICY="any",
        MAILD_AUTORESPONDER_WINDOW_MINUTES="5",
    )
    assert settings.ingest.max_parts == 42
    assert settings.smtp.enabled is False
    assert settings.tickets.reply_policy is ReplyPolicy.ANY
    assert settings.autoresponder.window_minutes == 5


def test_environment_applies_without_a_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"MAILD_TICKETS_PREFIX": "HELP"})
    assert settings.tickets.format_number(7) == "HELP-000007"


def test_variables_that_are_not_settings_are_ignored(tmp_path: Path) -> None:
    settings = load(tmp_path, "", MAILD_TEST_POSTGRES_URL="postgresql://x", HOME="/root")
    assert settings.database.url.startswith("sqlite:///")


@pytest.mark.parametrize(
    ("variable", "value", "key", "reason"),
    [
        ("MAILD_SMTP_LISTEN", "2600", "smtp.listen", "host:port"),
        ("MAILD_INGEST_MAX_PARTS", "lots", "ingest.max_parts", "integer"),
        ("MAILD_API_ENABLED", "maybe", "api.enabled", "true or false"),
        ("MAILD_TICKETS_REPLY_POLICY", "all", "tickets.reply_policy", "participants_or_token"),
        ("MAILD_TICKETS_SUBJECT_TAG", "[#]", "tickets.subject_tag", "{number}"),
        ("MAILD_SMTP_LISTN", "127.0.0.1:25", "smtp.listn", "MAILD_SMTP_LISTEN"),
    ],
)
def test_bad_environment_value_names_the_variable(
    tmp_path: Path, variable: str, value: str, key: str, reason: str
) -> None:
    error = mistake(tmp_path, "[smtp]\nenabled = true\n", **{variable: value})
    assert_names(error, variable, key, reason)


def test_error_in_the_file_still_names_the_file_when_other_keys_come_from_env(
    tmp_path: Path,
) -> None:
    error = mistake(tmp_path, '[smtp]\nlisten = "nope"\n', MAILD_API_LISTEN="127.0.0.1:1")
    assert_names(error, str(tmp_path / "maild.toml"), "smtp.listen", "host:port")


def test_starttls_needs_both_certificate_and_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("not checked here")
    path = write(tmp_path, f'[smtp]\ntls_cert = "{cert}"\n')
    with pytest.raises(ConfigError, match=r"smtp\.tls_key: STARTTLS needs both"):
        load_settings(path, environ={})


def test_a_certificate_that_is_not_a_readable_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[smtp]\ntls_cert = "/nonexistent/cert.pem"\n')
    with pytest.raises(ConfigError, match=r"smtp\.tls_cert: '/nonexistent/cert.pem' is not a read"):
        load_settings(path, environ={})


def test_smtp_hostname_must_be_a_host_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[smtp]\nhostname = "mx.example.com\\r\\n250 evil"\n')
    with pytest.raises(ConfigError, match=r"smtp\.hostname: .* is not a host name"):
        load_settings(path, environ={})


def test_log_level_and_format_are_checked_and_overridable(tmp_path: Path) -> None:
    path = write(tmp_path, '[log]\nlevel = "debug"\n')
    settings = load_settings(path, environ={"MAILD_LOG_FORMAT": "json"})
    assert (settings.log.level.value, settings.log.format.value) == ("debug", "json")
    with pytest.raises(ConfigError, match=r"log\.level: 'loud' is not one of"):
        load_settings(write(tmp_path, '[log]\nlevel = "loud"\n'), environ={})


def test_auth_section_is_read_and_checked(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[auth]\ncheck_dns = true\nnameserver = "127.0.0.1"\nport = 5353\n'
        'trusted_authserv_id = "mx.example.com"\n',
    )
    assert settings.auth.check_dns and settings.auth.port == 5353
    assert settings.auth.trusted_authserv_id == "mx.example.com"
    error = mistake(tmp_path, '[auth]\nnameserver = "dns.example.com"\n')
    assert_names(error, write(tmp_path, ""), "auth.nameserver", "not an IP address")
    error = mistake(tmp_path, "[auth]\nport = 70000\n")
    assert_names(error, write(tmp_path, ""), "auth.port", "not a port")
    error = mistake(tmp_path, '[auth]\ntrusted_authserv_id = "mx.example.com; dmarc=pass"\n')
    assert_names(error, write(tmp_path, ""), "auth.trusted_authserv_id", "authserv-id")
