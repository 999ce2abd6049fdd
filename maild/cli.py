"""The `maild` command line. Maps maild errors to a one-line message and exit code 2."""

from __future__ import annotations

import argparse
import sys

from maild.errors import MaildError
from maild.settings import Settings
from maild.store.db import Store, upgrade_schema


def _cmd_init(settings: Settings, args: argparse.Namespace) -> int:
    store = Store.open(settings.database.url)
    upgrade_schema(store)
    store.close()
    print(f"database ready: {settings.database.url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maild", description="Email-driven ticketing daemon")
    parser.add_argument("--config", help="TOML config file (else $MAILD_CONFIG, else ./maild.toml)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create or upgrade the database schema").set_defaults(
        handler=_cmd_init
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(Settings(), args))
    except MaildError as exc:
        print(f"maild: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
