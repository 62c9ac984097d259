"""Create, drop or ping PostgreSQL databases for CI runs (one fresh database per run).

Usage: pg_database.py ping ADMIN_URL | create ADMIN_URL NAME | drop ADMIN_URL NAME...
"""

from __future__ import annotations

import re
import sys

import psycopg
from psycopg import sql

_ARGUMENTS_MIN = 2
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def main(argv: list[str]) -> int:
    if len(argv) < _ARGUMENTS_MIN or argv[0] not in {"ping", "create", "drop"}:
        sys.stderr.write(__doc__ or "")
        return 2
    command, admin_url, names = argv[0], argv[1], argv[2:]
    if any(not _NAME.match(name) for name in names):
        sys.stderr.write("database names must be lower-case identifiers\n")
        return 2
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as connection:
            for name in names:
                if command == "create":
                    connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                elif command == "drop":
                    connection.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
    except psycopg.OperationalError as error:
        if command == "ping":
            return 1
        sys.stderr.write(f"pg_database: {error}".strip() + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
