"""The fault suite (issue 12): each hostile case of ``tests/hostile.py``, at a size CI can afford, run as the real
command line in a subprocess under an address-space limit. The run finishes with exit status 0 and a warning naming
the hostile thing (where there is one), prints no traceback, ingests the control documents beside it, and stores
nothing from outside the folder or from a private address. ``benchmarks/hostile.py`` runs the same cases at the
sizes the issue measured, and prints their time and memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile import CASES, CI, Case, run
from webserver import serving


@pytest.mark.parametrize("case", CASES, ids=[case.build.__name__ for case in CASES])
def test_a_hostile_case_costs_one_warning_not_the_run(case: Case, tmp_path: Path) -> None:
    with serving() as server:
        outcome = run(tmp_path, server, case, CI)
    assert outcome.problems == [], f"{case.name}: {outcome.problems}\n{outcome.stdout}\n{outcome.stderr}"
