"""Every file of the shared corpora goes through `maild ingest`: no exception, exactly one
outcome per message (mbox files split into their messages), nothing lost."""

from __future__ import annotations

import json
import mailbox
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from maild.cli import main
from maild.ingest.sources import Format, file_format
from maild.store.db import Store
from maild.store.models import Inbound
from maild.values import Outcome
from tests.ingest.test_corpora_classification import corpus_files
from tests.support import write_config

pytestmark = pytest.mark.corpora


def expected_sources(files: list[Path]) -> list[str]:
    sources: list[str] = []
    for path in files:
        if file_format(path) is Format.MBOX:
            box = mailbox.mbox(path, create=False)
            sources += [f"{path}#{i}" for i in range(1, len(box.keys()) + 1)]
            box.close()
        else:
            sources.append(str(path))
    return sources


@pytest.mark.slow
def test_every_corpus_message_gets_exactly_one_outcome(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = corpus_files()
    assert len(files) > 500, "the shared corpora are missing"
    config = write_config(tmp_path, db_url)

    assert main(["--config", str(config), "ingest", "--quiet", *map(str, files)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert sorted(line["source"] for line in lines) == sorted(expected_sources(files))
    outcomes = Counter(line["outcome"] for line in lines)
    assert set(outcomes) <= {o.value for o in Outcome}
    assert all(line["reason"] for line in lines if line["outcome"] == "held")
    print("corpus outcomes:", dict(outcomes))
    # Hundreds of labelled bounces; most of the rest are ordinary or automatic mail.
    assert outcomes["bounce"] > 300
    assert outcomes["new_ticket"] + outcomes["auto_reply"] > 50

    store = Store.open(db_url)
    with store.transaction() as session:
        spooled = session.scalar(sa.select(sa.func.count()).select_from(Inbound))
    store.close()
    assert spooled == len(lines) - outcomes["duplicate"]  # every message kept, raw
