"""The store: what the pipeline keeps between runs (documents, claims, occurrences, the near-duplicate index, web
state, the delivery queue), behind one interface, with one package per backend.

- :mod:`monitor.store.interface`: :class:`StoreInterface`, what the pipeline, the service and the command line ask
  of a store (a Protocol; mypy checks each backend against it).
- :mod:`monitor.store.records`: the plain records any backend gives back (a document's state, a claim's origin,
  the status, a source's health, a pending feed entry).
- :mod:`monitor.store.sqlite`: the embedded default, one SQLite file.

Every backend's errors leave as :class:`~monitor.errors.StoreError`; the novelty decisions stay pure, outside it.
"""

from monitor.store.interface import StoreInterface
from monitor.store.records import DocState, Origin, PendingEntry, SourceHealth, Status
from monitor.store.sqlite import Store

__all__ = ["DocState", "Origin", "PendingEntry", "SourceHealth", "Status", "Store", "StoreInterface"]
