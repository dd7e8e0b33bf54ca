"""The crash-consistency script (``benchmarks/faults.py``, issue 12) keeps working: two seeded trials on the seeds and
the dev set, each killed once with SIGKILL while its digest is being delivered to the script's slow SMTP server, then
run to completion and compared with the script's own reference."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from helpers import ROOT


def faults_script() -> ModuleType:
    name = "bench_faults"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "faults.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_killed_while_delivering_then_completed_nothing_is_lost_added_or_mailed_twice(tmp_path: Path) -> None:
    faults = faults_script()
    with faults.smtp_server() as (port, mailbox):
        bench = faults.Bench(tmp_path, 0, port, mailbox)  # the seeds and the dev set only
        assert bench.reference(controls=False) == []
        assert bench.claims and bench.messages == 1
        # from the scanned store, with the slow server; seed 14 kills the service once the server has the message
        # (it answers "250" a second later), seed 3 the one-shot digest once the digest is recorded for delivery
        service = faults.trial(bench, "run", seed=14, kills=1, scanned=True, delivery="slow")
        digest = faults.trial(bench, "digest", seed=3, kills=1, scanned=True, delivery="slow")
        received = mailbox.received("run-14-scanned-slow-1@example.org")

    # killed between the server's acceptance and the store's record of it: resent under the same Message-ID
    assert service.phases == ["accepted: accepted"] and service.resent == 1
    assert len(received) == 2 and received[0].message_id == received[1].message_id
    assert digest.kills == 1 and digest.phases[0] in ("queued: queued", "queued: accepted")
    for result in (service, digest):
        assert (result.lost, result.added, result.twice, result.integrity, result.errors) == (0, 0, 0, None, [])
        assert result.consistent
