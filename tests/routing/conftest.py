"""Fixtures for routing tests: a session inside one transaction per test body."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from maild.store.db import Store
from maild.store.models import Group
from tests.routing.factory import Org, make_group, make_org


@pytest.fixture
def session(store: Store) -> Iterator[Session]:
    """One unit of work, committed at the end of the test, as a service would use it."""
    with store.transaction() as session:
        yield session


@pytest.fixture
def org(session: Session) -> Org:
    return make_org(session)


@pytest.fixture
def group(session: Session, org: Org) -> Group:
    return make_group(session, org, "first-line")
