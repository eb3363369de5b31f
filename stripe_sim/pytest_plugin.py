"""The simulator's pytest fixtures, loaded by pytest through the ``pytest11`` entry point.

Installing the distribution (``pip install -e ./stripe_sim``) makes ``stripe_sim``, ``sim`` and
``webhook_receiver`` available to every test without a conftest import; ``-p no:stripe_sim``
turns them off. This is the only simulator module that imports pytest. The helpers are imported
inside the fixtures so that a run using none of them does not load the ``stripe`` SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from stripe_sim.testing import SimulatorProcess, WebhookReceiver


@pytest.fixture(scope="session")
def stripe_sim() -> Iterator[SimulatorProcess]:
    """One simulator process for the whole test session, on a free port with a temporary db."""
    from stripe_sim.testing import SimulatorProcess

    with SimulatorProcess() as process:
        yield process


@pytest.fixture
def sim(stripe_sim: SimulatorProcess) -> SimulatorProcess:
    """The session's simulator, running (restarted if a test stopped it) and reset."""
    if not stripe_sim.running:
        stripe_sim.start()
    stripe_sim.reset()
    return stripe_sim


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A local HTTP server that records and verifies the simulator's signed deliveries."""
    from stripe_sim.testing import WebhookReceiver

    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
