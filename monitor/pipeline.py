"""The one orchestrator: sources -> extract -> normalize -> claims -> novelty/store -> digest -> delivery.

``run_once`` does one whole run and returns a :class:`~monitor.models.RunReport`. A document or source
that fails becomes an error message in its :class:`~monitor.models.SourceOutcome`; the run goes on.
Claims are marked reported only in the transaction that records a successful delivery, so a failed
delivery loses nothing: the same claims come again next time. A dry run does all the work inside one
transaction that is rolled back at the end, and delivers nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor import claims as claims_mod
from monitor.config import FeedSource, FolderSource, NoveltySettings, PageSource, Settings, Source
from monitor.errors import ConfigError, DeliveryError, LocatedError, SourceError, StoreError
from monitor.extracting import BUDGET, Extractor, Prepared, Recipe
from monitor.models import (
    Candidate,
    Claim,
    Digest,
    Document,
    Dropped,
    Fetched,
    Layout,
    Match,
    RunReport,
    Sketch,
    SourceOutcome,
    Validators,
)
from monitor.normalize import key_of
from monitor.sources import folder
from monitor.store import StoreInterface
from monitor.store.sql import due_by

if TYPE_CHECKING:  # the costly modules are imported where first used: a poll with nothing new never loads them
    import httpx
    import jinja2

    from monitor.canon import Canon
    from monitor.delivery import Mailer
    from monitor.normalize import Normalizer
    from monitor.poll import WebItem

#: documents ingested per transaction; a crash loses at most one batch, read again next run
BATCH = 50
#: on a store many workers share, a scan leases the due sources this many times ``[http] concurrency`` at a time,
#: and polls them, records their polls and gives them back before it leases more: workers polling at once divide
#: the due sources between them (one that leased every due source would poll them alone while the others waited),
#: and a lease need only outlast the poll of one batch
LEASE_BATCH = 2
#: files read before they are extracted together (on every core): at most this many, or this many bytes
EXTRACT_BATCH = 16
EXTRACT_BATCH_BYTES = 16 * 1024 * 1024
#: batches being extracted while an earlier one is stored: at most this many, holding at most this many bytes
#: of files (the workers go on while the store takes its time over a batch of new claims)
EXTRACT_AHEAD = 8
EXTRACT_AHEAD_BYTES = 64 * 1024 * 1024
#: a known document is a hint for a new one once the new one repeats this many of its claims
HINT_LEAST = 2
#: the claims of at most this many hinted documents (those repeated most) are offered as candidates
HINT_DOCUMENTS = 2
#: at most this many claims of each are read
HINT_CLAIMS = 2000
#: the hinted documents' claims are kept indexed for the scan, at most this many documents' at once
HINTED_KEPT = 256


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Deps:
    """The long-lived objects a run needs, built once by the caller (CLI or scheduler).

    The costly ones (OpenCC's converter, the NumPy signer, Jinja2's templates) are built on first
    use, from ``opencc`` and ``novelty``, unless given. ``transport`` builds the HTTP transport for
    web sources (tests inject one, which carries every request; default: aiohttp's, with a second one for
    URLs learnt from feeds and redirects, which reaches only public addresses). ``stop``, once set, ends a
    scan early and cleanly: what was committed stays, the rest is found again next time."""

    def __init__(
        self,
        store: StoreInterface,
        *,
        opencc: str = "t2s",
        novelty: NoveltySettings | None = None,
        normalizer: Normalizer | None = None,
        templates: jinja2.Environment | None = None,
        mailer: Mailer | None = None,
        clock: Callable[[], datetime] = _utcnow,
        transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
        stop: threading.Event | None = None,
        aliases: Path | None = None,
        language: str = "en",
        progress: Callable[[str, int, int], None] | None = None,
        workers: int | None = None,
        budget: float = BUDGET,
        keep_sent: timedelta = timedelta(0),
        worker: str | None = None,
        lease_seconds: float = 600.0,
    ) -> None:
        self.store, self.mailer, self.clock, self.transport = store, mailer, clock, transport
        #: this process's name among the workers on the store (``run --worker``), and how long its leases last
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}"
        self.lease_seconds = lease_seconds
        #: how long a delivered digest's message stays in the store ([digest] keep_sent_messages)
        self.keep_sent = keep_sent
        #: set by the service on SIGTERM: a poll is abandoned, ingestion stops after the batch in hand
        self.stop = stop
        self._opencc, self._novelty, self._aliases = opencc, novelty or NoveltySettings(), aliases
        #: the language of the digest's labels
        self._language = language
        #: told (stage, done, total) as a scan reads files and ingests documents: the CLI's progress bar
        self.progress = progress
        #: worker processes that extract documents (None: one per core); 1 extracts in this process
        self.workers = workers
        #: no document takes longer than this to extract (seconds): its worker is stopped
        self.budget = budget
        given = {"normalizer": normalizer, "templates": templates}
        self._own_normalizer = normalizer is None
        self.__dict__.update({name: value for name, value in given.items() if value is not None})
        self._indexed = False
        #: the claims of known documents hinted to new ones, indexed for the exact comparison (see _Hints): kept for
        #: one scan (a document hinted to one reprint is often hinted to the next), dropped when one is saved again
        #: (a new version, or a new document given the id of one rolled back)
        self.hinted: dict[int, _Related] = {}

    @classmethod
    def of(cls, store: StoreInterface, settings: Settings, **given: Any) -> Deps:
        """The Deps for ``settings`` (OpenCC configuration, novelty settings, alias file); ``given`` as in __init__."""
        return cls(store, opencc=settings.opencc, novelty=settings.novelty, aliases=settings.aliases,
                   language=settings.language, budget=settings.extract_budget,
                   keep_sent=timedelta(seconds=settings.keep_sent_seconds), lease_seconds=settings.lease_seconds,
                   **given)

    @cached_property
    def normalizer(self) -> Normalizer:
        from monitor.normalize import Normalizer

        return Normalizer(self._opencc)

    @cached_property
    def canon(self) -> Canon:
        """The canonical form near-duplicates are compared in (aliases, numbers)."""
        from monitor.canon import Canon, load_aliases

        try:
            return Canon(load_aliases(self._aliases))
        except (OSError, UnicodeDecodeError, ValueError, KeyError) as exc:
            raise ConfigError(f"{self._aliases}: cannot read the alias file: {exc}") from exc

    @cached_property
    def templates(self) -> jinja2.Environment:
        from monitor import digest

        return digest.environment(language=self._language)

    def ensure_index(self) -> None:
        """Bring the store's near-duplicate index in line with the shingle size and the canonical form, once
        per Deps."""
        if not self._indexed:
            parameters = f"shingles-v1 shingle={self._novelty.shingle} {self.canon.parameters}"
            self.store.ensure_index(parameters, self.sketch)
            self._indexed = True

    def sketch(self, normalized: str) -> Sketch:
        """What the near-duplicate index keeps of a claim: its canonical form and that form's shingle codes."""
        from monitor.novelty import sketch

        return sketch(self.canon(normalized), self._novelty.shingle)

    @cached_property
    def recipe(self) -> Recipe | None:
        """What extraction workers need to split and sketch documents as this Deps does; None when this Deps was
        given its own normalizer (a test's), which workers cannot have."""
        if not self._own_normalizer:
            return None
        aliases = str(self._aliases) if self._aliases else None
        store = self.store.local_file
        return Recipe(self._opencc, aliases, self._novelty.shingle, str(store) if store else None)


@dataclass(frozen=True)
class _Pending:
    fetched: Fetched
    document: Document
    #: web documents: validators to keep for the URL, the feed entry to settle, whether to filter by topic
    validators: Validators | None = None
    entry: str | None = None
    topic_filter: bool = False
    #: its claims and sketches, if a worker made them
    prepared: Prepared | None = None


class _Sink:
    """Read files on their way to the store: batches are extracted (by the worker processes) while the batches
    before them are stored, so extraction and the comparison with the store use the machine's cores together; up
    to ``EXTRACT_AHEAD`` batches (``EXTRACT_AHEAD_BYTES`` of files) are extracted ahead of the store. A file that
    gives no document is one skipped message for its source and one record of the failed version."""

    def __init__(self, extractor: Extractor, deps: Deps, store: Callable[[list[_Pending]], None]) -> None:
        self._extractor, self._deps, self._store = extractor, deps, store
        self._waiting: deque[tuple[list[Fetched], Callable[[], list[Document | Prepared | str]], list[str]]] = deque()
        self._bytes = 0

    def add(self, batch: Sequence[Fetched], skipped: list[str]) -> None:
        """Start extracting a batch (its failures go into ``skipped``); store the batches before it that are too
        many or hold too many bytes to wait longer."""
        if batch:
            self._waiting.append((list(batch), self._extractor.start(batch), skipped))
            self._bytes += sum(len(fetched.data) for fetched in batch)
            while len(self._waiting) > 1 and (len(self._waiting) > EXTRACT_AHEAD or self._bytes > EXTRACT_AHEAD_BYTES):
                self._flush_one()

    def flush(self) -> None:
        """Wait for the batches being extracted, and store them."""
        while self._waiting:
            self._flush_one()

    def _flush_one(self) -> None:
        """Wait for the first batch being extracted, and store it."""
        batch, collect, skipped = self._waiting.popleft()
        self._bytes -= sum(len(fetched.data) for fetched in batch)
        pending: list[_Pending] = []
        for fetched, got in zip(batch, collect(), strict=True):
            if not isinstance(got, str):
                # the raw bytes are not kept: a first scan of a large folder holds only the extracted texts
                document, prepared = _unpacked(got)
                pending.append(_Pending(replace(fetched, data=b""), document, prepared=prepared))
                self._deps.store.forget_failed_file(fetched.locator)
            else:
                skipped.append(f"{fetched.locator}: skipped: {got}")
                with contextlib.suppress(OSError):
                    st = Path(fetched.locator).stat()
                    self._deps.store.file_failed(fetched.locator, st.st_size, st.st_mtime_ns, got, self._deps.clock())
        self._store(pending)


def _unpacked(got: Document | Prepared) -> tuple[Document, Prepared | None]:
    """An extracted document, and what a worker made of it (if it did)."""
    return (got.document, got) if isinstance(got, Prepared) else (got, None)


def _scan_folder(source: FolderSource, deps: Deps, sink: _Sink, wait: bool = False) -> SourceOutcome:
    """Read the new and changed files of a folder. A file that cannot be used is one warning for that version of
    it (it is not read again until it changes); only a folder that cannot be read makes the source fail. A file
    modified less than ``settle_seconds`` ago is left for later, unless ``wait`` (a one-shot run, which has no
    later): then the run waits for such files to settle (at most three times ``settle_seconds``), and reads them."""
    unchanged = 0
    skipped: list[str] = []
    batch: list[Fetched] = []  # read, not yet extracted: extracted together, on every core
    batch_bytes = 0
    try:
        paths, unreadable = folder.candidates(source.path, follow_symlinks=source.follow_symlinks)
    except SourceError as exc:
        return SourceOutcome(source.name, errors=(str(exc),))
    skipped += unreadable

    def visit(path: Path, now_ns: int) -> int | None:
        """Read one file if it is new or changed; the mtime of a file still settling (it was left alone)."""
        nonlocal unchanged, batch_bytes
        locator = folder.shown(path)  # until the path is known to be a file to read, and its real name
        checked = False
        try:
            stat = folder.check(path, follow_symlinks=source.follow_symlinks)
            checked = True
            locator = str(path.resolve())
            state = deps.store.document_state(locator)
            same = state is not None and (state.size, state.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
            if same or (state is None and deps.store.failed_file(locator) == (stat.st_size, stat.st_mtime_ns)):
                unchanged += 1  # the same version as last time (or one already reported as unusable)
                return None
            fetched = folder.read(
                Path(locator), source.name, stat, settle_seconds=source.settle_seconds, now_ns=now_ns
            )
            if fetched is None:
                return stat.st_mtime_ns
            if state is not None and state.content_hash == fetched.content_hash:
                deps.store.touch_document(state.id, fetched.size, fetched.mtime_ns)
                unchanged += 1
                return None
            batch.append(fetched)
            batch_bytes += len(fetched.data)
            if len(batch) >= EXTRACT_BATCH or batch_bytes >= EXTRACT_BATCH_BYTES:
                sink.add(batch, skipped)
                batch.clear()
                batch_bytes = 0
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - the per-document boundary: one file never stops the run
            reason = exc.reason if isinstance(exc, LocatedError) else f"unexpected {type(exc).__name__}: {exc}"
            try:  # the version that failed: a file's own, or the entry's itself (a link, a FIFO)
                st: os.stat_result | None = path.stat() if checked else path.lstat()
            except OSError:
                st = None
            if st is not None and not checked and deps.store.failed_file(locator) == (st.st_size, st.st_mtime_ns):
                unchanged += 1  # the same entry, already reported
                return None
            skipped.append(f"{folder.shown(path)}: skipped: {reason}")
            if st is not None:
                deps.store.file_failed(locator, st.st_size, st.st_mtime_ns, reason, deps.clock())
        return None

    settling: dict[Path, int] = {}
    for done, path in enumerate(paths, 1):
        if (mtime := visit(path, time.time_ns())) is not None:
            settling[path] = mtime
        if deps.progress is not None:
            deps.progress(f"reading {source.name}", done, len(paths))
    # a one-shot run has no "next run" soon: it waits while files settle (each until quiet for settle_seconds,
    # all together at most three times that), unless the folder asks for long waits (a minute or more)
    deadline = time.monotonic() + 3 * source.settle_seconds
    while wait and settling and 0 < source.settle_seconds < 60 and time.monotonic() < deadline:
        left = max(settling.values()) / 1e9 + source.settle_seconds - time.time()
        pause = min(max(left, 0.0), deadline - time.monotonic()) + 0.05
        if (deps.stop or threading.Event()).wait(pause):
            break  # the service is stopping
        settling = {path: mtime for path in settling if (mtime := visit(path, time.time_ns())) is not None}
    sink.add(batch, skipped)
    sink.flush()  # this folder's documents all in: its skipped files are all known
    warnings = [f"{path}: still being written; left for the next run" for path in settling]
    return SourceOutcome(
        source.name, scanned=len(paths), unchanged=unchanged, skipped=tuple(skipped), warnings=tuple(warnings),
        waiting=len(warnings),
    )


def ingest(
    fetched: Fetched, document: Document, deps: Deps, settings: Settings, prepared: Prepared | None = None
) -> int:
    """Store one new or changed document and its claims; returns how many claims were new."""
    verdicts, _dropped, _doc_id = ingest_verdicts(fetched, document, deps, settings, prepared)
    return sum(1 for _, match in verdicts if match.kind == "new")


def ingest_verdicts(
    fetched: Fetched, document: Document, deps: Deps, settings: Settings, prepared: Prepared | None = None
) -> tuple[list[tuple[Claim, Match]], list[Dropped], int]:
    """Store a document and its claims; its claims with their verdicts, its dropped sentences, its id. The claims
    and sketches a worker ``prepared`` are used when they were made as ``deps`` makes them."""
    from monitor.novelty import UNRELATED, decide, fingerprint

    deps.ensure_index()
    now = deps.clock()
    novelty = settings.novelty
    occurrences: list[tuple[int, Claim, Match]] = []
    with deps.store.transaction():
        doc_id = deps.store.save_document(fetched, document, now)
        deps.hinted.pop(doc_id, None)  # its claims are about to change
        sketches: Sequence[Sketch | None]
        if (prepared is not None and prepared.recipe == deps.recipe and prepared.parameters == deps.canon.parameters
                and prepared.document.text == document.text):
            found, dropped, sketches = list(prepared.claims), list(prepared.dropped), prepared.sketches
        else:
            found, dropped = claims_mod.split(document.text, deps.normalizer.normalize_many, key_of)
            sketches = [None] * len(found)
        withdrawn = _withdraw_truncated(doc_id, found, deps)
        prints = [fingerprint(claim.key) for claim in found]
        known = deps.store.find_exact_many(prints)  # claims added below join it, for repeats in this document
        least = novelty.threshold * UNRELATED  # what decide compares further
        hints = _Hints(deps, doc_id, [known[fp] for fp in prints if fp in known], least, novelty.shingle)
        # near-duplicates are looked for in the canonical form (one name, one number form): the index is read
        # for all the claims without an exact match at once; those this document adds are compared apart
        looked = {i: made or deps.sketch(found[i].normalized) for i, made in enumerate(sketches)
                  if prints[i] not in known}
        indexed = dict(zip(looked, deps.store.candidates_many([s.codes for s in looked.values()]), strict=True))
        own = _Related(least)  # this document's new claims: the index was read before they were added
        for position, (claim, fp) in enumerate(zip(found, prints, strict=True)):
            exact = known.get(fp)
            if exact is not None:
                match = Match(exact, "exact", 1.0)
            else:
                sketch = looked[position]
                offered = dict(indexed[position])
                offered.update(hints.candidates(sketch.codes))
                offered.update(own.candidates(sketch.codes))
                candidates = [_candidate(i, text) for i, text in offered.items() if i not in withdrawn]
                match = decide(
                    key_of(sketch.canonical), sketch.canonical, candidates,
                    shingle=novelty.shingle, threshold=novelty.threshold,
                )
                if match.claim_id is None:
                    known[fp] = deps.store.add_claim(claim, fp, sketch, doc_id, now)
                    own.add(known[fp], sketch.canonical, sketch.codes)
                    if match.conflict is not None:
                        deps.store.add_conflict(known[fp], match.conflict)
                    match = Match(known[fp], "new", 1.0, conflict=match.conflict)
                else:
                    hints.matched(match.claim_id)
            occurrences.append((match.claim_id or 0, claim, match))
        deps.store.add_occurrences(doc_id, occurrences, now)
    return [(claim, match) for _, claim, match in occurrences], dropped, doc_id


@lru_cache(maxsize=1 << 14)  # stored claims recur as candidates: a document's hints, common neighbours
def _candidate(claim_id: int, canonical: str) -> Candidate:
    return Candidate(claim_id, canonical, key_of(canonical))


class _Related:
    """Claims a sentence is compared with exactly, whatever the index offers: those of the document itself, those of
    the known documents it repeats. An inverted index of their shingles counts, for a sentence, how many each
    shares with it: those at least ``least`` alike (Jaccard) are its candidates."""

    def __init__(self, least: float) -> None:
        self._least = least
        self._lists: defaultdict[int, list[int]] = defaultdict(list)
        self._claims: dict[int, tuple[str, int]] = {}  # id -> (canonical text, shingles)

    def add(self, claim_id: int, canonical: str, codes: Sequence[int]) -> None:
        self._claims[claim_id] = (canonical, len(codes))
        lists = self._lists
        for code in codes:
            lists[code].append(claim_id)

    def candidates(self, codes: Sequence[int]) -> list[tuple[int, str]]:
        hits: dict[int, int] = {}
        lists = self._lists
        for code in codes:
            if code in lists:
                for i in lists[code]:
                    hits[i] = hits.get(i, 0) + 1
        size, least, claims = len(codes), self._least, self._claims
        return [(i, claims[i][0]) for i, n in hits.items() if n >= least * (size + claims[i][1] - n)]


class _Hints:
    """Reprints come in clusters: a document that repeats several claims of a known document likely rewords its
    other sentences too. Once a new document repeats ``HINT_LEAST`` claims of a known one (of at most
    ``HINT_DOCUMENTS`` known documents, those repeated most), each of its sentences is also compared with every
    claim of the known document alike enough to be worth it, whether the index offers it or not (a rewording may
    share only a story's common words with the sentence it rewords, which the index does not list it under)."""

    def __init__(self, deps: Deps, doc_id: int, matched: Sequence[int], least: float, shingle: int) -> None:
        self._deps, self._doc_id, self._least, self._shingle = deps, doc_id, least, shingle
        #: the claims found known so far
        self._matched = list(matched)
        self._documents: tuple[int, ...] | None = None
        self._asked = 0  # how many claims were known when the store was last asked for the hinted documents

    def matched(self, claim_id: int) -> None:
        self._matched.append(claim_id)
        if len(self._matched) >= 1.5 * self._asked:  # which documents it repeats most is asked again, now and then
            self._documents = None

    def candidates(self, codes: Sequence[int]) -> list[tuple[int, str]]:
        if len(self._matched) < HINT_LEAST:
            return []
        if self._documents is None:
            self._asked = len(self._matched)
            found = self._deps.store.hinted_documents(self._matched, HINT_LEAST, HINT_DOCUMENTS + 1)
            self._documents = tuple(d for d in found if d != self._doc_id)[:HINT_DOCUMENTS]
        from monitor.novelty import codes as codes_of

        out: list[tuple[int, str]] = []
        for document in self._documents:
            if (related := self._deps.hinted.get(document)) is None:
                if len(self._deps.hinted) >= HINTED_KEPT:
                    self._deps.hinted.clear()
                related = self._deps.hinted[document] = _Related(self._least)
                for claim_id, canonical in self._deps.store.document_canonical(document, HINT_CLAIMS):
                    related.add(claim_id, canonical, codes_of(key_of(canonical), self._shingle))
            out += related.candidates(codes)
        return out


def _withdraw_truncated(doc_id: int, found: Sequence[Claim], deps: Deps) -> set[int]:
    """A new version of a document that completes a sentence its earlier version had cut off (a file read
    while it was being written): the earlier version's fragment is no longer carried by the document, so the
    completed sentence is compared with what other documents say, not with its own fragment (and a fragment
    not yet mailed never is). Only claims no other document carries are withdrawn, and only when a claim of the
    new version extends them; returns their ids."""
    keys = [claim.key for claim in found]
    truncated = [
        claim_id for claim_id, normalized in deps.store.own_claims(doc_id)
        if (old := key_of(normalized)) and old not in keys and any(k.startswith(old) and k != old for k in keys)
    ]
    if truncated:
        deps.store.withdraw_occurrences(doc_id, truncated)
    return set(truncated)


def select(settings: Settings, names: Sequence[str]) -> tuple[Source, ...]:
    """The configured sources named (all when ``names`` is empty); an unknown name is a ConfigError."""
    if not names:
        return settings.sources
    known = {source.name: source for source in settings.sources}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError([f"--source {name}: no such source (known: {', '.join(known)})" for name in unknown])
    return tuple(known[name] for name in dict.fromkeys(names))


def scan(
    settings: Settings, deps: Deps, only: Sequence[str] = (), default_every: float | None = None,
    wait_to_settle: bool = False, folders_due: bool = False,
) -> tuple[tuple[SourceOutcome, ...], int]:
    """Poll the sources (those named in ``only``, else every one that is due: its ``every``, else
    ``default_every``, has passed; every folder too with ``folders_due``, as a service starts), ingest what is
    new or changed (oldest documents first, within each batch of up to ``EXTRACT_BATCH`` files, which is
    ingested while the next ones are being extracted), and record
    each source's health (not when ``deps.stop`` cut the scan short: its sources stay due). With
    ``wait_to_settle`` (one-shot runs), files still being written are waited for rather than left for later."""
    now = deps.clock()
    deps.hinted.clear()  # other processes may have changed the known documents since the last scan
    chosen = select(settings, only)
    forced = {s.name for s in chosen} if only else set()
    if folders_due and not only:  # files may have come while no service watched: a folder costs a stat a file
        forced |= {s.name for s in chosen if isinstance(s, FolderSource)}
    last = {n: h.last_attempt for n, h in deps.store.health().items()}
    cutoffs = {s.name: None if s.name in forced else _cutoff(s, now, default_every) for s in chosen}
    due = [s for s in chosen if due_by(last.get(s.name), cutoffs[s.name])]
    if deps.store.shared:  # a folder is polled by the workers that have it (see README, "Scaling out")
        due = [s for s in due if not isinstance(s, FolderSource) or s.path.is_dir()]
    deps.store.worker_seen(deps.worker, now)
    asked = [(s.name, cutoffs[s.name]) for s in due]
    # on a shared store, the due sources are leased a batch at a time (see LEASE_BATCH); one process leases them all
    size = LEASE_BATCH * settings.http.concurrency if deps.store.shared else max(len(asked), 1)
    by_name = {s.name: s for s in due}
    polled: dict[str, SourceOutcome] = {}
    new = 0
    with Extractor(deps.workers, deps.recipe, deps.budget) as extractor:
        for start in range(0, len(asked), size):
            if deps.stop is not None and deps.stop.is_set():
                break  # the service is stopping: the sources not yet leased stay due
            # each due source is leased: polled by this worker alone until its poll is recorded (or the lease expires)
            leased = deps.store.lease_sources(asked[start : start + size], deps.worker, deps.lease_seconds)
            if not leased:
                continue  # other workers hold these, or polled them since this scan began
            try:
                result, found = _scan_leased(settings, deps, extractor, tuple(by_name[name] for name in leased),
                                             wait_to_settle, now)
            except BaseException:
                with contextlib.suppress(StoreError):  # else they expire: another worker polls them then
                    deps.store.release_sources(leased, deps.worker)
                raise
            with deps.store.transaction():
                if deps.stop is None or not deps.stop.is_set():
                    # a scan cut short by a stop is no poll: its sources stay due, and the next start polls them
                    deps.store.record_polls([(o.source, o.errors[0] if o.errors else None) for o in result
                                             if o.polled], now)
                deps.store.release_sources(leased, deps.worker)
            polled.update((o.source, o) for o in result if o.polled)
            new += found
    return tuple(polled.get(s.name, SourceOutcome(s.name, polled=False)) for s in chosen), new


def _scan_leased(
    settings: Settings, deps: Deps, extractor: Extractor, due: Sequence[Source], wait_to_settle: bool,
    now: datetime,
) -> tuple[tuple[SourceOutcome, ...], int]:
    """Poll these (due and leased) sources; ingest what is new or changed. Their outcomes, in their order."""
    topic = _Topic(settings.topic_keywords, deps)
    new = 0
    ingested: dict[str, int] = {}
    off_topic: dict[str, int] = {}
    seen = [0, 0]  # documents ingested (or filtered out), documents extracted: for the progress bar

    def store(pending: list[_Pending]) -> None:
        """Ingest documents (oldest first), one transaction per BATCH of them."""
        nonlocal new
        pending.sort(key=lambda p: (p.document.published or "9999", p.fetched.locator))
        seen[1] += len(pending)
        for start in range(0, len(pending), BATCH):
            if deps.stop is not None and deps.stop.is_set():
                return  # shutting down: what is not ingested is found again next time
            # one commit per batch of documents: a commit costs more than ingesting a short page
            with deps.store.transaction():
                for one in pending[start : start + BATCH]:
                    source = one.fetched.source
                    if one.topic_filter and not topic.matches(one.document):
                        off_topic[source] = off_topic.get(source, 0) + 1
                        _settle(one, "off-topic", deps, now)
                        continue
                    new += ingest(one.fetched, one.document, deps, settings, one.prepared)
                    ingested[source] = ingested.get(source, 0) + 1
                    _settle(one, "ingested", deps, now)
            seen[0] += len(pending[start : start + BATCH])
            if deps.progress is not None:
                deps.progress("comparing claims", seen[0], seen[1])

    sink = _Sink(extractor, deps, store)
    outcomes = {s.name: _scan_folder(s, deps, sink, wait_to_settle) for s in due if isinstance(s, FolderSource)}
    web = [s for s in due if isinstance(s, PageSource | FeedSource)]
    if web:
        from monitor import poll  # httpx and aiohttp: loaded only when there are web sources

        failed: list[tuple[WebItem, str]] = []

        async def consume(items: list[WebItem]) -> None:
            """Extract fetched articles (the poll goes on meanwhile) and ingest them."""
            pending: list[_Pending] = []
            for item, got in zip(items, await extractor.extract([i.fetched for i in items]), strict=True):
                if isinstance(got, str):
                    error = f"{item.fetched.locator}: {got}"
                    failed.append((item, error))
                    _web_failed(item, error, deps, now)
                    continue
                document, prepared = _unpacked(got)
                if document.url is None:  # no canonical link: the URL it was fetched from is where readers are
                    document = replace(document, url=item.fetched.locator)
                pending.append(_Pending(replace(item.fetched, data=b""), document, item.validators, item.entry,
                                        item.topic_filter, prepared))
            store(pending)

        outcomes.update(poll.poll(web, settings.http, deps.store, now, consume, deps.transport, deps.stop))
        for item, error in failed:  # a feed's article is an item of the feed; a page source's page is the source
            outcome = outcomes[item.fetched.source]
            outcomes[item.fetched.source] = (
                replace(outcome, skipped=(*outcome.skipped, error)) if item.entry is not None
                else replace(outcome, errors=(*outcome.errors, error))
            )
    result = tuple(
        replace(outcomes[s.name], ingested=ingested.get(s.name, 0), off_topic=off_topic.get(s.name, 0))
        if s.name in outcomes else SourceOutcome(s.name, polled=False)
        for s in due  # the caller makes the outcome of each source chosen, once, from those of every batch
    )
    return result, new


class _Topic:
    """The topic filter: does a document mention any keyword? Compared as matching keys (after OpenCC
    and NFKC, lower case, letters and digits only), so 黃仁勳 meets 黄仁勋 and "Jensen  Huang," meets
    "jensen huang"."""

    def __init__(self, keywords: Sequence[str], deps: Deps) -> None:
        self._keywords, self._deps = keywords, deps
        self._keys: list[str] | None = None

    def matches(self, document: Document) -> bool:
        normalizer = self._deps.normalizer
        if self._keys is None:
            self._keys = [k for k in (key_of(normalizer.normalize(word)) for word in self._keywords) if k]
        text = key_of(normalizer.normalize(f"{document.title or ''}\n{document.text}"))
        return any(key in text for key in self._keys)


def _settle(item: _Pending, state: str, deps: Deps, now: datetime) -> None:
    """After ingesting (or filtering out) a web document: keep its validators, settle its feed entry."""
    if item.validators is not None:
        deps.store.save_validators(item.fetched.locator, item.validators, now)
    if item.entry is not None:
        deps.store.settle_entry(item.entry, state, now)


def _cutoff(source: Source, now: datetime, default_every: float | None) -> str | None:
    """A source is due if last polled at or before this time: its ``every`` (else ``default_every``) ago; None (due
    whenever) with neither. A tenth of the interval (at most a minute) early still counts: a scheduled poll fires
    on the interval, and the last one's clock was read a little after its own firing time."""
    every = source.every or default_every
    if every is None:
        return None
    return (now - timedelta(seconds=every - min(every / 10, 60.0))).isoformat()


def _web_failed(item: WebItem, error: str, deps: Deps, now: datetime) -> None:
    """A fetched web document that gave no text: reported once; the same bytes are not tried again."""
    if item.validators is not None:
        deps.store.save_validators(item.fetched.locator, item.validators, now)
    if item.entry is not None:
        deps.store.settle_entry(item.entry, "failed", now, error)


def run_once(
    settings: Settings, deps: Deps, *, deliver: bool = True, dry_run: bool = False, only: Sequence[str] = (),
    baseline: bool = False,
) -> RunReport:
    """Scan (the sources named in ``only``, else all that are due), then (when ``deliver``) build and
    deliver the digest of every unreported claim; with ``baseline`` (or ``[digest] first_run = "baseline"``
    on an empty store), record them as known instead, mailing nothing."""
    if dry_run:
        with deps.store.rolled_back():
            return _run(settings, deps, deliver=deliver, dry_run=True, only=only, baseline=baseline)
    return _run(settings, deps, deliver=deliver, dry_run=False, only=only, baseline=baseline)


def _run(
    settings: Settings, deps: Deps, *, deliver: bool, dry_run: bool, only: Sequence[str], baseline: bool
) -> RunReport:
    baseline = baseline or (settings.first_run == "baseline" and deps.store.is_empty())
    outcomes, new = scan(settings, deps, only, wait_to_settle=True)  # a one-shot run has no "next run" soon
    if not deliver:
        return RunReport(outcomes, new, dry_run=dry_run)
    if baseline:
        return RunReport(outcomes, new, dry_run=dry_run, baseline=record_baseline(deps))
    return replace(digest_now(settings, deps, dry_run=dry_run), outcomes=outcomes, new_claims=new)


def record_baseline(deps: Deps) -> Digest:
    """Record every claim in no digest as known, mailing nothing; returns what was recorded (its documents
    carry their counts)."""
    now = deps.clock()
    recorded = deps.store.unreported(now)
    deps.store.record_baseline(now)
    return recorded


def digest_now(settings: Settings, deps: Deps, *, dry_run: bool = False) -> RunReport:
    """Deliver the digests that failed before, then a digest of every claim in none yet (recorded before
    it is sent). In a dry run, or with no mailer, the digest is built and returned, not recorded or sent.

    Digests are built and sent under the store's digest lock: while another worker holds it, this one sends
    nothing, and says so (the report is ``locked_out``, with a warning): the other sends the claims found before
    it built its digest, and a later digest those found since (the service tries again soon)."""
    if dry_run or deps.mailer is None:
        return _digest_now(settings, deps, dry_run=dry_run)
    with deps.store.digest_lock() as mine:
        if mine:
            return _digest_now(settings, deps, dry_run=False)
    return RunReport((), 0, pending=deps.store.pending_count(), locked_out=True,
                     warnings=("another worker is sending digests (it holds the digest lock): this one sends none",))


def _digest_now(settings: Settings, deps: Deps, *, dry_run: bool) -> RunReport:
    sending = not dry_run and deps.mailer is not None
    resent, errors = retry_deliveries(deps) if sending else ((), [])
    now = deps.clock()
    digest = deps.store.unreported(now, corroborated=settings.corroborated)
    report = RunReport((), 0, dry_run=dry_run, resent=resent)
    if digest.claims:
        from monitor import digest as digest_mod
        from monitor.delivery import build_message

        layout = _layout(settings, deps)
        archived, warning = _archive(settings, digest, layout, deps) if sending else (None, None)
        rendered = digest_mod.render(digest, deps.templates, replace(layout, archive=archived))
        message = build_message(rendered, sender=settings.sender, recipients=settings.recipients, date=now)
        data = bytes(message)
        report = replace(report, digest=digest, rendered=rendered, message=data, archived=archived,
                         warnings=(warning,) if warning else ())
        if sending:
            delivery = deps.store.queue_digest(
                digest, subject=rendered.subject, message_id=str(message["Message-ID"]), message=data,
                sender=settings.sender, recipients=settings.recipients, now=now,
            )
            destination, error = _deliver(deps, delivery, data, attempts=0)
            report = replace(report, delivered_to=destination, refused=error is not None and error.refused)
            errors += [str(error)] if error else []
    pending = deps.store.pending_count() if sending else 0
    return replace(report, delivery_error="; ".join(errors) or None, pending=pending)


#: meta key: the largest message the mail server takes, learnt from a refusal for size
SIZE_BUDGET = "delivery.max_message_bytes"


def _layout(settings: Settings, deps: Deps) -> Layout:
    """The digest's layout: the configured bounds, with the footer's facts (time zone, sources, config); smaller
    when the mail server refused a message for its size (its text and HTML, encoded, must fit together)."""
    def monitored(source: Source) -> str:
        where = source.path if isinstance(source, FolderSource) else source.url
        return f"{source.kind} {where}"

    layout = replace(
        settings.layout, timezone=settings.schedule.timezone, sources=tuple(monitored(s) for s in settings.sources),
        config=str(settings.config_path) if settings.config_path else None,
    )
    budget = deps.store.get_meta(SIZE_BUDGET)
    if budget is not None:
        part = int(budget) // 3  # two parts, each base64 (4/3) or quoted-printable, and the headers
        layout = replace(layout, max_html_bytes=min(layout.max_html_bytes, part),
                         max_text_bytes=min(layout.max_text_bytes, part))
    return layout


def _archive(settings: Settings, digest: Digest, layout: Layout, deps: Deps) -> tuple[str | None, str | None]:
    """Write the whole digest into the archive; (where a reader finds it, None) or (None, a warning). A digest
    whose archive copy cannot be written is still sent, without the pointer."""
    from monitor import archive
    from monitor import digest as digest_mod

    stem = archive.name(digest.generated_at, (c.id for c in digest.claims))
    whole = digest_mod.render_whole(digest, deps.templates, layout)
    try:
        path = archive.write(settings.archive, stem, whole.html, digest_mod.to_json(digest))
    except OSError as exc:
        return None, f"{settings.archive}: cannot write the digest's archive copy: {exc.strerror or exc}"
    if settings.archive_url:
        return f"{settings.archive_url.rstrip('/')}/{path.name}", None
    return str(path), None


#: a failed delivery is tried again after this long, doubled for each failure, up to RETRY_MAX
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)


def retry_deliveries(deps: Deps, due: datetime | None = None) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """Send the digests recorded earlier and not yet accepted (those due by ``due``; all without it), each
    as first built, with its Message-ID. Returns (message id, destination) of those delivered, and the errors."""
    delivered: list[tuple[str, str]] = []
    errors: list[str] = []
    with deps.store.digest_lock() as mine:
        for pending in deps.store.pending_deliveries(due) if mine else ():  # else another worker sends them
            destination, error = _deliver(deps, pending.id, pending.message, attempts=pending.attempts)
            if destination is not None:
                delivered.append((pending.message_id, destination))
            if error is not None:
                errors.append(str(error))
    return tuple(delivered), errors


@dataclass(frozen=True)
class _Failure:
    """Why an attempt to deliver failed, and whether the digest was refused for good."""

    message: str
    refused: bool

    def __str__(self) -> str:
        return self.message


def _deliver(deps: Deps, delivery: int, data: bytes, *, attempts: int) -> tuple[str | None, _Failure | None]:
    """One attempt to deliver a recorded digest; (destination, None) or (None, why not).

    A refusal for good (a 5xx to this message, or a message over the server's size) makes the digest *refused*:
    its claims go into the next digest, built smaller when size was the reason. Anything else keeps it pending,
    to be tried again, the same bytes, after a backoff."""
    import email
    import email.policy
    from email.message import EmailMessage

    assert deps.mailer is not None
    message = email.message_from_bytes(data, policy=email.policy.SMTP)
    assert isinstance(message, EmailMessage)
    try:
        destination = deps.mailer.deliver(message)
    except DeliveryError as exc:
        if exc.permanent:
            deps.store.delivery_refused(delivery, str(exc), deps.clock())
            if exc.size_limit is not None:  # the next digest is built to fit
                known = deps.store.get_meta(SIZE_BUDGET)
                limit = min(exc.size_limit, int(known)) if known else exc.size_limit
                deps.store.set_meta(SIZE_BUDGET, str(limit))
            return None, _Failure(f"{exc}; refused for good: its claims go into the next digest", refused=True)
        wait = min(RETRY_FIRST * 2**attempts, RETRY_MAX)
        deps.store.delivery_failed(delivery, str(exc), deps.clock() + wait)
        return None, _Failure(str(exc), refused=False)
    deps.store.delivery_sent(delivery, destination, deps.clock(), keep=deps.keep_sent)
    return destination, None
