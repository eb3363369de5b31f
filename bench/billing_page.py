"""(h) The billing page against a slow Stripe: a simulator that answers every API call after
300 ms (``STRIPE_SIM_LATENCY_MS``), and a Pro tenant with a card and a paid invoice.

Prints the server time of ``/billing/`` (a WSGI wrapper: from the call to the last byte) on the
first view, which fills the local mirror from Stripe, and then p50/p95 over warm views, which
read only the mirror. The goal: under 100 ms with the mirror warm.

    .venv/bin/python -m bench.billing_page
"""

from __future__ import annotations

import statistics

from bench.dashboard_fragment import ServerTimer
from bench.harness import bench_config, throwaway_database
from portal import create_app
from portal.billing.cli import bootstrap_catalog
from tests.factory import Factory

LATENCY_MS = 300
VIEWS = 40
GOAL_MS = 100


def main() -> None:
    from stripe_sim.testing import SimulatorProcess

    with SimulatorProcess(latency_ms=LATENCY_MS) as sim:
        url = throwaway_database()
        app = create_app(
            bench_config(
                url,
                STRIPE_SECRET_KEY=sim.api_key,
                STRIPE_API_BASE=sim.url,
                PORTAL_BASE_URL="http://portal.bench",
                METER_REPORTER_ENABLED=False,
            )
        )
        timer = ServerTimer(app.wsgi_app)
        app.wsgi_app = timer  # type: ignore[method-assign]
        with app.app_context():
            bootstrap_catalog()
        account = Factory(app).account("free", email="bench@example.com")
        started = account.post("/billing/checkout", {"interval": "month"})
        assert started.status_code == 303, started.status_code
        paid = sim.pay_checkout(started.headers["Location"], "4242424242424242")
        assert paid.location, paid.body
        back = account.client.get(paid.location.replace("http://portal.bench", ""))
        assert back.status_code == 303, back.status_code

        first = account.client.get("/billing/")
        assert first.status_code == 200
        cold_ms = timer.last * 1000
        warm = []
        for _ in range(VIEWS):
            page = account.client.get("/billing/")
            assert page.status_code == 200 and "Visa ending 4242" in page.get_data(as_text=True)
            warm.append(timer.last * 1000)
        warm.sort()
        p50, p95 = statistics.median(warm), warm[int(len(warm) * 0.95) - 1]
        print(
            f"(h) /billing/, Pro tenant, Stripe at {LATENCY_MS} ms a call: first view (fills "
            f"the mirror from Stripe) {cold_ms:.0f} ms"
        )
        print(
            f"(h) /billing/, mirror warm: p50 {p50:.1f} ms, p95 {p95:.1f} ms (goal < {GOAL_MS} ms)"
        )


if __name__ == "__main__":
    main()
