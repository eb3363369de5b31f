"""Contract: every object the simulator returns matches the installed ``stripe`` SDK's declared
fields at the pinned API version: required fields present, no unknown fields, no wrong JSON
types, no nulls where the SDK type is not optional. Needs nothing but the SDK."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from stripe_sim.testing import SimulatorProcess
from stripe_sim.tests.contract_scenario import run_scenario
from stripe_sim.tests.sdk_fields import mismatches


@pytest.fixture(scope="module")
def returned(stripe_sim: SimulatorProcess) -> dict[str, Any]:
    return run_scenario(stripe_sim)


def test_every_returned_object_matches_the_sdk_declaration(returned):
    counted: list[str] = []
    problems = []
    for name, obj in returned.items():
        problems += mismatches(obj, None, name, counted)
    assert problems == []
    assert len(counted) > 900  # the scenario really walked the objects


def test_the_pinned_sdk_is_the_one_compared_against():
    assert stripe.api_version == "2026-10-28.endive"


def test_mismatches_reports_missing_unknown_wrong_type_and_bad_null():
    ours = {"object": "test_helpers.test_clock", "id": "clock_1", "created": "0",
            "nickname": "x", "livemode": None, "frozen_time": 1, "status": "ready",
            "status_details": {}}
    assert mismatches(ours) == [
        "$.deletes_after: required by the SDK, missing",
        "$.created: string is not a <class 'int'>",
        "$.nickname: not a field of the SDK's TestClock",
        "$.livemode: null, but the SDK type is not optional",
    ]
