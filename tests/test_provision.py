"""Applying the config to the database: idempotent, never deleting, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime

import pytest
import sqlalchemy as sa

from maild.errors import NotFound
from maild.provision import apply_config, create_api_token
from maild.settings import (
    AgentConfig,
    BrandConfig,
    DepartmentConfig,
    GroupConfig,
    MemberConfig,
    Settings,
)
from maild.store.db import Store
from maild.store.models import (
    Agent,
    ApiToken,
    Brand,
    Department,
    DepartmentAddress,
    Group,
    Membership,
)
from maild.values import Mode, Role

SETTINGS = Settings(
    departments=(
        DepartmentConfig(
            name="Support",
            addresses=("Support@Example.com", "help@example.com"),
            autoresponder_subject="Got it: {{ ticket.subject }}",
            autoresponder_body="Ticket {{ ticket.number }}",
            auto_close_after_minutes=4320,
        ),
    ),
    groups=(
        GroupConfig(
            name="Tier 1",
            department="Support",
            members=(MemberConfig("alice"), MemberConfig("bob", Mode.SECONDARY, max_tickets=3)),
        ),
        GroupConfig(
            name="Tier 2", department="Support", rebalance=True, rebalance_times=("06:00",)
        ),
    ),
    agents=(AgentConfig("alice", email="alice@example.com", role=Role.ADMIN), AgentConfig("bob")),
)


def apply(store: Store, settings: Settings, now: datetime):
    with store.transaction() as session:
        return apply_config(session, settings, now)


def test_first_apply_creates_the_organisation(store: Store, now: datetime) -> None:
    report = apply(store, SETTINGS, now)
    assert report.changed
    with store.transaction() as s:
        (brand,) = s.scalars(sa.select(Brand)).all()
        department = s.scalars(sa.select(Department)).one()
        groups = {g.name: g for g in s.scalars(sa.select(Group))}
        addresses = set(s.scalars(sa.select(DepartmentAddress.address)))
        members = {
            (m.agent.name, m.group.name): (m.mode, m.max_tickets, m.receiving)
            for m in s.scalars(sa.select(Membership))
        }
        alice = s.scalars(sa.select(Agent).where(Agent.name == "alice")).one()
        assert brand.name == "Default"  # one default brand when none is configured
        assert department.brand_id == brand.id
        assert department.autoresponder_enabled
        assert department.autoresponder_body == "Ticket {{ ticket.number }}"
        assert department.auto_close_after_minutes == 4320
        assert department.default_group_id == groups["Tier 1"].id  # the first group
        assert groups["Tier 2"].rebalance and groups["Tier 2"].rebalance_times == "06:00"
        assert alice.role is Role.ADMIN and alice.email == "alice@example.com"
    assert addresses == {"support@example.com", "help@example.com"}  # lower-cased
    assert members == {
        ("alice", "Tier 1"): (Mode.PRIMARY, None, True),
        ("bob", "Tier 1"): (Mode.SECONDARY, 3, True),
    }


def test_second_apply_changes_nothing_and_says_so(store: Store, now: datetime) -> None:
    apply(store, SETTINGS, now)
    report = apply(store, SETTINGS, now)
    assert not report.changed
    assert report.created == () and report.updated == ()
    assert report.lines() == ["nothing to change: the database already matches the config"]


def test_changed_values_are_updated_and_reported(store: Store, now: datetime) -> None:
    apply(store, SETTINGS, now)
    department = replace(
        SETTINGS.departments[0], auto_close_after_minutes=60, reply_to_is_requester=False
    )
    tier1 = replace(
        SETTINGS.groups[0], members=(MemberConfig("alice", Mode.NOT_INCLUDED), MemberConfig("bob"))
    )
    changed = replace(SETTINGS, departments=(department,), groups=(tier1, SETTINGS.groups[1]))
    report = apply(store, changed, now)
    assert report.created == ()
    assert "department 'Support': auto_close_after_minutes, reply_to_is_requester" in (
        report.updated
    )
    assert "membership of 'alice' in 'Tier 1': mode" in report.updated
    assert "membership of 'bob' in 'Tier 1': mode, max_tickets" in report.updated
    with store.transaction() as s:
        assert s.scalars(sa.select(Department.auto_close_after_minutes)).one() == 60
        assert s.scalars(sa.select(Department.reply_to_is_requester)).one() is False


def test_declared_default_group_is_used(store: Store, now: datetime) -> None:
    department = replace(SETTINGS.departments[0], default_group="Tier 2")
    apply(store, replace(SETTINGS, departments=(department,)), now)
    with store.transaction() as s:
        tier2 = s.scalars(sa.select(Group.id).where(Group.name == "Tier 2")).one()
        assert s.scalars(sa.select(Department.default_group_id)).one() == tier2


def test_rows_the_config_no_longer_names_are_kept_and_reported(store: Store, now: datetime) -> None:
    apply(store, SETTINGS, now)
    department = replace(SETTINGS.departments[0], addresses=("support@example.com",))
    tier1 = replace(SETTINGS.groups[0], members=(MemberConfig("alice"),))
    smaller = replace(
        SETTINGS, departments=(department,), groups=(tier1,), agents=SETTINGS.agents[:1]
    )
    report = apply(store, smaller, now)
    assert set(report.not_in_config) == {
        "group 'Tier 2'",
        "agent 'bob'",
        "address 'help@example.com'",
        "membership of 'bob' in 'Tier 1'",
    }
    assert any(line.startswith("not in config (kept): agent 'bob'") for line in report.lines())
    with store.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Agent)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(Membership)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(DepartmentAddress)) == 2


def test_address_moves_to_the_department_that_now_names_it(store: Store, now: datetime) -> None:
    apply(store, SETTINGS, now)
    support = replace(SETTINGS.departments[0], addresses=("support@example.com",))
    sales = DepartmentConfig(name="Sales", addresses=("help@example.com",))
    apply(store, replace(SETTINGS, departments=(support, sales)), now)
    with store.transaction() as s:
        owner = s.scalars(
            sa.select(Department.name)
            .join(DepartmentAddress)
            .where(DepartmentAddress.address == "help@example.com")
        ).one()
    assert owner == "Sales"


def test_configured_brands_replace_the_default(store: Store, now: datetime) -> None:
    brands = (BrandConfig("Acme", from_name="Acme Help"), BrandConfig("Beta"))
    department = replace(SETTINGS.departments[0], brand="Beta")
    apply(store, replace(SETTINGS, brands=brands, departments=(department,)), now)
    with store.transaction() as s:
        names = set(s.scalars(sa.select(Brand.name)))
        brand = s.scalars(sa.select(Brand.name).join(Department)).one()
    assert names == {"Acme", "Beta"}
    assert brand == "Beta"


def test_receiving_is_only_set_when_the_membership_is_created(store: Store, now: datetime) -> None:
    apply(store, SETTINGS, now)
    with store.transaction() as s:
        for membership in s.scalars(sa.select(Membership)):
            membership.receiving = False  # agents switched themselves off
    report = apply(store, SETTINGS, now)
    assert not report.changed
    with store.transaction() as s:
        assert not any(s.scalars(sa.select(Membership.receiving)))


def test_department_without_group_is_warned_about(store: Store, now: datetime) -> None:
    lonely = DepartmentConfig(name="Sales", addresses=("sales@example.com",))
    report = apply(store, replace(SETTINGS, departments=(*SETTINGS.departments, lonely)), now)
    assert any("'Sales' has no group" in w for w in report.warnings)


def test_api_token_is_stored_as_its_sha256(store: Store, now: datetime) -> None:
    apply(store, SETTINGS, now)
    with store.transaction() as s:
        token = create_api_token(s, "alice", now)
    with store.transaction() as s:
        row = s.scalars(sa.select(ApiToken)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in row.token_hash
        assert s.get(Agent, row.agent_id).name == "alice"
        assert row.created_at == now
    with store.transaction() as s:
        assert create_api_token(s, "alice", now) != token


def test_api_token_for_unknown_agent_is_not_found(store: Store, now: datetime) -> None:
    apply(store, SETTINGS, now)
    with pytest.raises(NotFound, match="no agent named 'carol'"), store.transaction() as s:
        create_api_token(s, "carol", now)
    with store.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def _queue_two(store: Store, now: datetime) -> Group:
    """alice logs in; two tickets wait in Tier 1's queue because she has no room."""
    from maild.routing import log_in
    from tests.routing.factory import open_new

    with store.transaction() as session:
        group = session.scalars(sa.select(Group).where(Group.name == "Tier 1")).one()
        alice = session.scalars(sa.select(Agent).where(Agent.name == "alice")).one()
        log_in(session, alice.id, now)
        assert [open_new(session, group, now).agent_id for _ in range(2)] == [None, None]
        return group


def _assigned_to(store: Store, name: str) -> int:
    from maild.store.models import Ticket

    with store.transaction() as session:
        query = sa.select(sa.func.count(Ticket.id)).join(Agent, Ticket.agent_id == Agent.id)
        return int(session.scalar(query.where(Agent.name == name)) or 0)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (MemberConfig("alice", max_tickets=0), MemberConfig("alice", max_tickets=5)),
        (MemberConfig("alice", Mode.NOT_INCLUDED), MemberConfig("alice", Mode.PRIMARY)),
    ],
)
def test_config_apply_that_makes_room_drains_the_queue(
    store: Store, now: datetime, before: MemberConfig, after: MemberConfig
) -> None:
    def settings(member: MemberConfig) -> Settings:
        tier1 = replace(SETTINGS.groups[0], members=(member,))
        return replace(SETTINGS, groups=(tier1, *SETTINGS.groups[1:]))

    apply(store, settings(before), now)
    _queue_two(store, now)
    apply(store, settings(after), now)
    assert _assigned_to(store, "alice") == 2
