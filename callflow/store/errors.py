"""What the store raises: one root, every SQLite error translated where it enters.

::

    StoreError                  the store cannot do what was asked
    ├── StoreClosed             a write or read after close()
    ├── StoreUnavailable        the disk refuses writes (full, read-only, I/O error) now
    └── SchemaTooNew            the file was written by a newer callflow (user_version)
"""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot do what was asked; the message says which file and why."""


class StoreClosed(StoreError):
    """The store was closed: nothing more can be written to it or read from it."""


class StoreUnavailable(StoreError):
    """The disk refuses writes now (full, read-only, failing): a write someone waits for
    was not made. Writes nobody waits for are held and retried (see the writer)."""


class SchemaTooNew(StoreError):
    """The file's schema is newer than this callflow knows: upgrade callflow, or point it at
    another file. Opening it anyway could lose or misread what a newer version wrote."""

    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"{path}: the store's schema is version {found}, newer than this callflow knows "
            f"(version {known}); upgrade callflow or use another store file"
        )
        self.path = path
        self.found = found
        self.known = known
