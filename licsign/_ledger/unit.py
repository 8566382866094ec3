"""The ledger's unit of work: one write transaction, nestable by savepoints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from licsign._ledger.engine import Database


class UnitOfWork:
    """Base of every ledger mixin: the connection and ``transaction()``."""

    _db: Database
    _depth: int = 0

    def _after_begin(self) -> None:
        """Run when the outermost unit has begun, under the write lock, before any change (an
        exception ends the unit): the ledger checks its history against the head the
        workspace recorded here (integrity.py)."""

    def _before_commit(self) -> Any:
        """Run at the end of the outermost unit, before COMMIT, still under the write lock
        (an exception undoes the unit); what it returns goes to ``_after_commit``."""
        return None

    def _after_commit(self, token: Any) -> None:
        """Run once the outermost unit committed (the ledger records its new head)."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One unit of work: all of it or none of it.

        The outermost call begins a write transaction (holding the ledger's
        write lock) and commits at the end; a nested call is a savepoint, so
        an exception it lets out undoes only its part if the caller catches
        it, and the whole unit otherwise.
        """
        depth = self._depth
        if depth == 0:
            self._db.begin_write()  # on failure it leaves no transaction open
        else:
            self._db.run(f"SAVEPOINT unit_{depth}")
        self._depth = depth + 1
        try:
            if depth == 0:
                self._after_begin()
            yield
            token = self._before_commit() if depth == 0 else None
        except BaseException:
            self._depth = depth
            if depth == 0:
                self._db.rollback()
            else:
                self._db.run(f"ROLLBACK TO SAVEPOINT unit_{depth}")
                self._db.run(f"RELEASE SAVEPOINT unit_{depth}")
            raise
        self._depth = depth
        if depth == 0:
            self._db.commit()
            self._after_commit(token)
        else:
            self._db.run(f"RELEASE SAVEPOINT unit_{depth}")

    @property
    def in_transaction(self) -> bool:
        """Whether a unit of work is open on this connection."""
        return self._depth > 0
