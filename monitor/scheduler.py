"""The background service, ``corpus-monitor run``: polls on a schedule, sends digests at set times.

APScheduler 3.x (``BackgroundScheduler``) with **one** worker thread, so jobs never overlap and share
one store connection; every job is ``max_instances=1`` and coalescing, with a misfire grace time, so a
poll that runs long never stacks up. The jobs:

- **poll**: every ``schedule.poll_every`` (a duration, or a cron expression), at once on start; the
  interval is the shortest of it and the sources' own ``every``, and each source is polled when its
  own interval (else ``poll_every``) has passed; the poll on start reads every folder, due or not (files
  may have come while no service watched). With ``digest = "as-it-happens"`` a poll that found
  new claims is followed by a digest.
- **digest**: at the ``schedule.digest`` cron times (in ``schedule.timezone``): every claim not yet
  reported, whatever number of polls came before.
- **retry**: every minute, digests whose delivery failed and whose backoff has passed.
- **folder scan**: watched folders are also watched for file events (watchfiles); a change schedules
  a scan of the folder sources within seconds. The periodic poll remains the fallback, and the store's
  content hashes make a file seen twice ingested once.

Signals: SIGTERM and SIGINT stop the service: no new job starts, the one running is told to stop (a
poll is abandoned, ingestion stops after its batch; everything committed stays, the rest is found
again next time), and the process exits 0 within ``STOP_GRACE`` seconds. A store whose file is deleted
or replaced while the service runs is noticed as the next job (or transaction) begins: one error naming
it, and the service stops the same way, with exit status 1. SIGHUP reloads the config
file (in the worker thread, between jobs); a config with errors is refused and the old one kept. A signal's
handler only notes it; the main thread acts on it (a handler that took a lock could deadlock the main thread: a
second signal runs its handler inside the first one's, while that one holds the lock).
Only one service works on an SQLite store at a time (``monitor.lock``); on a PostgreSQL store any number do,
each a worker (``--worker NAME``): each poll leases the sources it polls, and digests go out under the store's
digest lock (see ``monitor.store.postgres``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.backends import exclusive, open_store
from monitor.config import FolderSource, Settings, cautions, store_shown
from monitor.delivery import Mailer
from monitor.errors import ConfigError, MonitorError, StoreGoneError
from monitor.logs import fields
from monitor.pipeline import Deps, digest_now, record_baseline, retry_deliveries, scan
from monitor.store import StoreInterface

log = logging.getLogger("corpus-monitor")

#: how often the main thread looks for signals received (seconds)
SIGNAL_CHECK = 0.1
#: how long a stop waits for the job in progress before abandoning it (its transaction rolls back)
STOP_GRACE = 25.0
#: the store's meta key for the service's heartbeat, read by ``status --health``
HEARTBEAT = "service"
#: a poll that has not happened for this many poll intervals makes ``status --health`` fail
HEALTHY_INTERVALS = 3
_JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}


def poll_interval(settings: Settings) -> float | None:
    """Seconds between poll jobs: the shortest of ``poll_every`` and the sources' ``every`` (None: cron)."""
    if settings.schedule.poll_seconds is None:
        return None
    everys = [s.every for s in settings.sources if s.every is not None]
    return min([settings.schedule.poll_seconds, *everys])


def as_it_happens_due(
    now: datetime, burst_began: datetime, last_sent: datetime | None, quiet: timedelta, min_interval: timedelta
) -> datetime:
    """When the digest of a burst of arrivals goes out ("as-it-happens"): once ``quiet`` has passed with no new
    claim, but no later than five ``quiet`` after the burst began (a steady trickle still gets its digest),
    and never sooner than ``min_interval`` after the last digest."""
    due = min(now + quiet, burst_began + 5 * quiet)
    return max(due, last_sent + min_interval) if last_sent is not None else due


class _Either:
    """A stop event for one watcher: set by itself (the watched folders changed) or by the service's stop."""

    def __init__(self, service_stop: threading.Event) -> None:
        self._own, self._service = threading.Event(), service_stop

    def set(self) -> None:
        self._own.set()

    def is_set(self) -> bool:
        return self._own.is_set() or self._service.is_set()


def _job(name: str) -> Callable[[Callable[[Service], None]], Callable[[Service], None]]:
    """A job's error boundary: a failure is logged, and the service goes on; but a store whose file is gone
    (deleted or replaced under the service) stops it, with exit status 1. The file is checked as the job
    begins."""

    def wrap(body: Callable[[Service], None]) -> Callable[[Service], None]:
        def job(self: Service) -> None:
            if self.stop.is_set():
                return
            try:
                if self._deps is not None:
                    self._deps.store.check_file()
                body(self)
            except StoreGoneError as exc:
                log.error("store gone; stopping", extra=fields(store=store_shown(self.settings), job=name,
                                                              error=str(exc)))
                self.status = 1
                self.stop.set()
            except MonitorError as exc:
                log.error(f"{name} failed", extra=fields(error=str(exc)))
            except Exception:  # noqa: BLE001 - the job boundary: the service outlives one bad job
                log.exception(f"{name} failed unexpectedly")

        return job

    return wrap


class Service:
    """One run of the service over one store; :meth:`run` returns the exit status."""

    def __init__(
        self, settings: Settings, load: Callable[[], Settings], mailer: Callable[[Settings], Mailer],
        worker: str | None = None,
    ) -> None:
        #: the settings in force; replaced on SIGHUP by ``load()``
        self.settings = settings
        #: this service's name among the workers on the store (``run --worker``; None: host and pid)
        self.worker = worker
        self._load, self._mailer = load, mailer
        self.stop = threading.Event()
        self._scheduler: BackgroundScheduler | None = None
        self._deps: Deps | None = None
        self._watched: list[Path] = []
        self._watch_stop = _Either(self.stop)
        #: as it happens: when the burst of arrivals the next digest waits for began, and the last digest
        self._burst_began: datetime | None = None
        self._last_sent: datetime | None = None
        self._first_scan = True
        #: signals received and not yet acted on (the handler only appends: see the module's docstring)
        self._signals: deque[int] = deque()
        #: the exit status :meth:`run` returns: 1 once the store's file is gone
        self.status = 0

    # -- the main thread ---------------------------------------------------------------------------

    def run(self) -> int:
        with exclusive(self.settings), open_store(self.settings, any_thread=True) as store:
            self._deps = self._make_deps(store, self.settings)
            scheduler = self._scheduler = BackgroundScheduler(
                executors={"default": ThreadPoolExecutor(1)}, job_defaults=_JOB_DEFAULTS,
                timezone=self.settings.schedule.timezone,
            )
            self._schedule(self.settings)
            previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_signal)
            scheduler.start()
            self._watch_folders()
            log.info("service started", extra=fields(pid=os.getpid(), store=store_shown(self.settings),
                                                      worker=self._deps.worker,
                                                      **self._describe(self.settings)))
            self._caution(self.settings)
            try:
                while not self.stop.wait(SIGNAL_CHECK):
                    while self._signals:
                        self._act_on(self._signals.popleft())
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            return self._shut_down(scheduler)

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self._signals.append(number)  # no lock taken here: the main loop acts on it

    def _act_on(self, number: int) -> None:
        if number == signal.SIGHUP:
            if self._scheduler is not None:  # the reload runs in the worker thread, between jobs
                self._scheduler.add_job(self._reload, id="reload", replace_existing=True)
            return
        if not self.stop.is_set():
            log.info("stopping", extra=fields(signal=signal.Signals(number).name))
        self.stop.set()

    def _shut_down(self, scheduler: BackgroundScheduler) -> int:
        done = threading.Event()

        def wait_for_jobs() -> None:
            scheduler.shutdown(wait=True)  # no new job starts; waits for the one running
            done.set()

        threading.Thread(target=wait_for_jobs, name="shutdown", daemon=True).start()
        if done.wait(STOP_GRACE):
            log.info("stopped", extra=fields(status=self.status))
            return self.status
        log.warning("stopped, abandoning the job in progress", extra=fields(after_seconds=STOP_GRACE))
        logging.shutdown()
        # the worker thread's open transaction is rolled back by SQLite; nothing half-written stays
        os._exit(self.status)

    # -- jobs (all in the one worker thread) -------------------------------------------------------

    def _make_deps(self, store: StoreInterface, settings: Settings) -> Deps:
        return Deps.of(store, settings, mailer=self._mailer(settings), stop=self.stop, worker=self.worker)

    def _schedule(self, settings: Settings) -> None:
        assert self._scheduler is not None
        schedule, zone = settings.schedule, settings.schedule.timezone
        interval = poll_interval(settings)
        trigger: Any = (IntervalTrigger(seconds=interval, timezone=zone) if interval is not None
                        else CronTrigger.from_crontab(schedule.poll_cron, timezone=zone))
        now = datetime.now(UTC)
        self._scheduler.add_job(self._poll, trigger, id="poll", replace_existing=True, next_run_time=now)
        if schedule.digest_cron is not None:
            self._scheduler.add_job(self._digest, CronTrigger.from_crontab(schedule.digest_cron, timezone=zone),
                                    id="digest", replace_existing=True)
        elif self._scheduler.get_job("digest") is not None:
            self._scheduler.remove_job("digest")
        self._scheduler.add_job(self._retry, IntervalTrigger(minutes=1, timezone=zone), id="retry",
                                replace_existing=True)

    @_job("poll")
    def _poll(self) -> None:
        assert self._deps is not None
        # [digest] first_run = "baseline": what the first poll of an empty store finds is known, not news
        baseline = self.settings.first_run == "baseline" and self._deps.store.is_empty()
        self._scan(only=(), what="poll", baseline=baseline)

    @_job("folder scan")
    def _folder_scan(self) -> None:
        names = tuple(s.name for s in self.settings.sources if isinstance(s, FolderSource))
        if names:
            self._scan(only=names, what="folder scan")

    def _scan(self, only: tuple[str, ...], what: str, baseline: bool = False) -> None:
        assert self._deps is not None
        started = time.monotonic()
        # the first scan reads every folder, due or not: files may have come while no service watched them
        outcomes, new = scan(self.settings, self._deps, only, default_every=self.settings.schedule.poll_seconds,
                             folders_due=self._first_scan)
        polled = [o for o in outcomes if o.polled]
        for outcome in polled:
            for error in outcome.errors:
                log.warning("source failed", extra=fields(source=outcome.source, error=error))
            for skipped in outcome.skipped:
                log.warning("item skipped", extra=fields(source=outcome.source, error=skipped))
            for warning in outcome.warnings:
                log.info("source warning", extra=fields(source=outcome.source, warning=warning))
        log.info(what, extra=fields(
            sources=len(polled), documents_new_or_changed=sum(o.ingested for o in polled),
            unchanged=sum(o.unchanged for o in polled), off_topic=sum(o.off_topic for o in polled),
            claims_new=new, errors=sum(len(o.errors) for o in polled), skipped=sum(len(o.skipped) for o in polled),
            seconds=round(time.monotonic() - started, 3), stopped=self.stop.is_set(),
        ))
        if not only:
            self._heartbeat()
        if any(o.waiting for o in polled) and not self.stop.is_set():
            # files still being written: look again once they have had time to settle, not at the next poll
            settle = max([s.settle_seconds for s in self.settings.sources if isinstance(s, FolderSource)] + [0.0])
            assert self._scheduler is not None
            self._scheduler.add_job(self._folder_scan, "date", id="folder-scan", replace_existing=True,
                                    run_date=datetime.now(UTC) + timedelta(seconds=settle + 1))
        if baseline and not self.stop.is_set():
            recorded = record_baseline(self._deps)
            log.info("baseline recorded: known, not mailed", extra=fields(
                claims=len(recorded.claims), documents=sum(1 for d in recorded.documents if d.new_claims)))
        elif (new or self._first_scan) and self.settings.schedule.digest_cron is None and not self.stop.is_set():
            self._digest_soon()  # the first scan too: claims a stopped service had not yet mailed
        self._first_scan = False

    def _digest_soon(self) -> None:
        """As it happens: (re)schedule the digest of this burst of arrivals (see :func:`as_it_happens_due`)."""
        assert self._scheduler is not None
        now = datetime.now(UTC)
        self._burst_began = self._burst_began or now
        schedule = self.settings.schedule
        due = as_it_happens_due(now, self._burst_began, self._last_sent, timedelta(seconds=schedule.quiet_seconds),
                                timedelta(seconds=schedule.min_interval_seconds))
        self._scheduler.add_job(self._digest, "date", id="digest-soon", replace_existing=True, run_date=due)

    @_job("digest")
    def _digest(self) -> None:
        self._burst_began = None
        self._send_digest()

    def _send_digest(self) -> None:
        assert self._deps is not None
        report = digest_now(self.settings, self._deps)
        if report.locked_out:
            # the other worker's digest was built before it took the lock: claims found since (this worker's among
            # them) would wait for the next news, which may never come; so this one tries again soon
            for warning in report.warnings:
                log.warning("digest: %s", warning)
            if not self.stop.is_set():
                self._digest_soon()
            return
        if report.digest is not None:
            self._last_sent = datetime.now(UTC)
        for message_id, destination in report.resent:
            log.info("earlier digest delivered", extra=fields(message_id=message_id, to=destination))
        if report.digest is None:
            log.info("digest: nothing new to report", extra=fields(waiting=report.pending))
        elif report.delivered_to is not None:
            log.info("digest delivered", extra=fields(claims=len(report.digest.claims), to=report.delivered_to))
        for warning in report.warnings:
            log.warning("digest: %s", warning)
        if report.delivery_error:
            log.error("digest not delivered; kept and retried with backoff",
                      extra=fields(error=report.delivery_error, waiting=report.pending))

    @_job("retry")
    def _retry(self) -> None:
        assert self._deps is not None
        delivered, errors = retry_deliveries(self._deps, due=self._deps.clock())
        for message_id, destination in delivered:
            log.info("earlier digest delivered", extra=fields(message_id=message_id, to=destination))
        for error in errors:
            log.warning("digest retry failed", extra=fields(error=error))

    @_job("config reload")
    def _reload(self) -> None:
        assert self._deps is not None
        try:
            settings = self._load()
        except ConfigError as exc:
            log.error("config reload refused; the old config stays", extra=fields(problems=exc.problems))
            return
        if (settings.store_path, settings.store_url) != (self.settings.store_path, self.settings.store_url):
            log.error("config reload refused: the store cannot change without a restart",
                      extra=fields(store=str(settings.store_path)))
            return
        self.settings = settings
        self._deps = self._make_deps(self._deps.store, settings)
        self._schedule(settings)
        self._watch_folders()
        log.info("config reloaded", extra=fields(**self._describe(settings)))
        self._caution(settings)

    @staticmethod
    def _caution(settings: Settings) -> None:
        """What the config allows but is seldom meant (a login sent in clear), as warnings."""
        for caution in cautions(settings):
            log.warning("config warning", extra=fields(warning=caution))

    def _heartbeat(self) -> None:
        assert self._deps is not None
        interval = poll_interval(self.settings)
        self._deps.store.set_meta(HEARTBEAT, json.dumps({
            "pid": os.getpid(), "last_poll": datetime.now(UTC).isoformat(),
            # a cron poll: judged as if daily, the loosest schedule a cron expression usually has
            "poll_seconds": interval if interval is not None else 86400.0,
        }))

    # -- file events -------------------------------------------------------------------------------

    def _watch_folders(self) -> None:
        """(Re)start the watcher thread on the folder sources of the settings in force."""
        folders = [s.path for s in self.settings.sources if isinstance(s, FolderSource) and s.path.is_dir()]
        if folders == self._watched:
            return
        self._watch_stop.set()  # the watcher of the old folders, if any, ends within its timeout
        self._watch_stop, self._watched = _Either(self.stop), folders
        if folders:
            threading.Thread(target=self._watch, args=(folders, self._watch_stop), name="watch", daemon=True).start()

    def _watch(self, folders: list[Path], stop: _Either) -> None:
        import watchfiles

        try:
            for _changes in watchfiles.watch(*folders, stop_event=stop, debounce=800, rust_timeout=1000,
                                             raise_interrupt=False):
                if self._scheduler is not None and not self.stop.is_set():
                    self._scheduler.add_job(self._folder_scan, id="folder-scan", replace_existing=True)
        except Exception as exc:  # noqa: BLE001 - without events the periodic poll still finds new files
            log.warning("watching folders failed; new files wait for the next poll", extra=fields(error=str(exc)))

    @staticmethod
    def _describe(settings: Settings) -> dict[str, Any]:
        schedule = settings.schedule
        return {
            "sources": len(settings.sources),
            "poll_every": f"{schedule.poll_seconds:g}s" if schedule.poll_seconds else schedule.poll_cron,
            "digest": schedule.digest_cron or "as-it-happens", "timezone": schedule.timezone,
        }


def health(store: StoreInterface, now: datetime) -> tuple[bool, str]:
    """Whether a service polls this store as it should: (healthy, one line saying why)."""
    raw = store.get_meta(HEARTBEAT)
    if raw is None:
        return False, "no service has polled this store yet"
    beat = json.loads(raw)
    age = now - datetime.fromisoformat(beat["last_poll"])
    limit = timedelta(seconds=HEALTHY_INTERVALS * float(beat["poll_seconds"]))
    if age > limit:
        seconds, allowed = age.total_seconds(), limit.total_seconds()
        return False, f"last poll {seconds:.0f} s ago (pid {beat['pid']}), more than {allowed:.0f} s"
    return True, f"ok: last poll {age.total_seconds():.0f} s ago (pid {beat['pid']})"
