"""The index's database: SQLite (a file, nothing to install) or PostgreSQL (a DSN), behind one small interface.

SQL is written once with ``?`` placeholders; the PostgreSQL backend turns them into ``%s``. Bulk appends go
through ``executemany`` on SQLite and ``COPY`` on PostgreSQL, the fastest path each offers.
"""

from __future__ import annotations

import os
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from millchain.errors import ConfigError, MillchainError
from millchain.index.schema import MIGRATIONS, SCHEMA_VERSION, statements


class IndexStoreError(MillchainError):
    """The index database is unusable (wrong chain, newer schema, unreachable)."""


def is_dsn(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://")) or (" " in target and "dbname=" in target)


class IndexStore(ABC):
    """One connection to the index database. Not shared between threads."""

    dialect: str
    where: str
    """The file or the DSN without its password, for messages."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all (the indexer's unit of crash safety)."""
        yield

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def tables(self) -> set[str]: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def meta(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.execute("DELETE FROM meta WHERE key = ?", (key,))
        self.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`; returns the version found before."""
        with self.transaction():
            found = 0
            if "meta" in self.tables():
                found = int(self.meta("schema_version") or 0)
            if found > SCHEMA_VERSION:
                raise IndexStoreError(
                    f"{self.where} has index schema {found}, newer than this millchain's "
                    f"{SCHEMA_VERSION}: upgrade millchain"
                )
            for version in range(found + 1, len(MIGRATIONS) + 1):
                for sql in statements(self.dialect, version):
                    self.execute(sql)
                self.set_meta("schema_version", str(version))
        return found

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteStore(IndexStore):
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.where = str(path)
        # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) so readers never see half a range.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers (console, CLI) never block the writer
        # NORMAL under WAL: a killed process loses nothing committed; only a power cut may lose the last commit,
        # and then the cursor rolls back with its rows, so the index resumes from an earlier, consistent point.
        self._db.execute("PRAGMA synchronous=NORMAL")
        # The usage index takes rows in lease order, not in arrival order: 64 MiB of page cache keeps its hot
        # pages in memory during a backfill instead of re-reading them from the OS.
        self._db.execute("PRAGMA cache_size=-65536")
        self._depth = 0

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._db.execute(sql, tuple(params)).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._db.execute(sql, tuple(params))

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            marks = ", ".join("?" for _ in columns)
            self._db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    def close(self) -> None:
        self._db.close()

    def tables(self) -> set[str]:
        return {str(r[0]) for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


class PostgresStore(IndexStore):
    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise ConfigError("a PostgreSQL index needs psycopg: pip install 'millchain[postgres]'") from exc
        self._psycopg = psycopg
        try:
            self._db = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as exc:
            raise IndexStoreError(f"cannot connect to PostgreSQL ({_redact(dsn)}): {exc}") from exc
        self.where = _redact(dsn)
        self._depth = 0

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._db.cursor() as cursor:
            cursor.execute(self._sql(sql), tuple(params))
            return [tuple(_plain(v) for v in row) for row in cursor.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._db.execute(self._sql(sql), tuple(params))

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._db.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            yield
            return
        self._depth = 1
        try:
            with self._db.transaction():
                yield
        finally:
            self._depth = 0

    def close(self) -> None:
        self._db.close()

    def tables(self) -> set[str]:
        return {
            str(r[0])
            for r in self.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        }


def _plain(value: Any) -> Any:
    """psycopg returns BYTEA as memoryview; SQLite as bytes. Readers get bytes from both."""
    return bytes(value) if isinstance(value, memoryview) else value


def _redact(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    if "://" in dsn and "@" in dsn:
        scheme, rest = dsn.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return " ".join(part for part in dsn.split() if not part.startswith("password="))


DEFAULT_INDEX = Path(".millchain") / "index.sqlite"
"""Where the index lives by default, under the project root."""
INDEX_ENV = "MILLCHAIN_INDEX"


def index_target(project_root: Path, given: str | None = None) -> str:
    """The index to use: ``given`` (a path or a DSN), else $MILLCHAIN_INDEX, else .millchain/index.sqlite."""
    return given or os.environ.get(INDEX_ENV) or str(project_root / DEFAULT_INDEX)


def configured_index(project_root: Path) -> str | None:
    """The index readers should use, if one exists: $MILLCHAIN_INDEX, else the default file if it is there."""
    explicit = os.environ.get(INDEX_ENV)
    if explicit:
        return explicit
    default = project_root / DEFAULT_INDEX
    return str(default) if default.is_file() else None


def open_store(target: str | Path, *, migrate: bool = True) -> IndexStore:
    """A PostgreSQL store for a DSN (postgresql://…), else a SQLite file at ``target``."""
    store: IndexStore = (
        PostgresStore(target) if isinstance(target, str) and is_dsn(target) else SqliteStore(Path(target))
    )
    if migrate:
        store.migrate()
    return store
