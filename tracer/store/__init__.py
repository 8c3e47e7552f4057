"""The run store: runs, their op logs, feedback and datasets in SQLite or PostgreSQL.

`open_store(url)` gives a `Store` whose schema is current; the background writer calls
`Store.write` with `RunChange`s, the client and the viewer read through the same object.
Modules: `tables` (schema), `engine` (connections), `migrate` (Alembic), `writes`, `queries`.
"""

from __future__ import annotations

from .changes import RunChange
from .errors import NotFound, StoreError
from .migrate import current_revision, upgrade
from .store import Store, open_store

__all__ = ["Store", "open_store", "upgrade", "current_revision", "StoreError", "NotFound", "RunChange"]
