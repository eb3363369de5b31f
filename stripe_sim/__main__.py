"""Command line: ``python -m stripe_sim --port 12111 --webhook-url URL ...``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from werkzeug.serving import make_server

from stripe_sim.app import build_sim, create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m stripe_sim",
                                     description="Stripe simulator (development and test tool)")
    parser.add_argument("--host", default=env("STRIPE_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("STRIPE_SIM_PORT", "12111")),
                        help="0 picks a free port (printed on the ready line)")
    parser.add_argument("--db", default=env("STRIPE_SIM_DB", "instance/stripe_sim.sqlite3"))
    parser.add_argument("--api-key", default=env("STRIPE_SIM_API_KEY", "sk_test_simulator"))
    parser.add_argument("--webhook-url", action="append",
                        default=[u for u in [env("STRIPE_SIM_WEBHOOK_URL")] if u])
    parser.add_argument("--webhook-secret", action="append",
                        default=[s for s in [env("STRIPE_SIM_WEBHOOK_SECRET")] if s])
    parser.add_argument("--event-destination-url", action="append",
                        default=[u for u in [env("STRIPE_SIM_EVENT_DESTINATION_URL")] if u],
                        help="where thin (v2) events such as meter errors are sent")
    parser.add_argument("--event-destination-secret", action="append",
                        default=[s for s in [env("STRIPE_SIM_EVENT_DESTINATION_SECRET")] if s])
    parser.add_argument("--latency-ms", type=int, default=env("STRIPE_SIM_LATENCY_MS", "0"),
                        help="delay every API answer by this many milliseconds (default 0)")
    parser.add_argument("--public-url", default=env("STRIPE_SIM_PUBLIC_URL"),
                        help="base URL for hosted pages (default http://HOST:PORT)")
    parser.add_argument("--webhook-retry-base", type=float,
                        default=float(env("STRIPE_SIM_WEBHOOK_RETRY_BASE", "2")),
                        help="seconds before the first webhook retry; doubles each time")
    parser.add_argument("--webhook-max-attempts", type=int,
                        default=int(env("STRIPE_SIM_WEBHOOK_MAX_ATTEMPTS", "6")))
    parser.add_argument("--webhook-timeout", type=float,
                        default=float(env("STRIPE_SIM_WEBHOOK_TIMEOUT", "10")))
    args = parser.parse_args(argv)
    if len(args.webhook_url) != len(args.webhook_secret):
        parser.error("give one --webhook-secret per --webhook-url")
    if len(args.event_destination_url) != len(args.event_destination_secret):
        parser.error("give one --event-destination-secret per --event-destination-url")
    if args.latency_ms < 0:
        parser.error("--latency-ms must be 0 or more")
    if not args.api_key.startswith("sk_test_"):
        parser.error("--api-key must be a test key (sk_test_...)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s stripe-sim %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    endpoints = [{"url": u, "secret": s} for u, s in zip(args.webhook_url, args.webhook_secret,
                                                         strict=True)]
    destinations = [{"url": u, "secret": s} for u, s in zip(
        args.event_destination_url, args.event_destination_secret, strict=True)]
    sim = build_sim(args.db, args.api_key, "", endpoints, args.webhook_retry_base,
                    args.webhook_max_attempts, args.webhook_timeout, destinations,
                    args.latency_ms)
    app = create_app(sim)
    server = make_server(args.host, args.port, app, threaded=True)
    sim.public_url = args.public_url or f"http://{args.host}:{server.server_port}"
    print(f"stripe-sim listening on http://{args.host}:{server.server_port} "
          f"(hosted pages at {sim.public_url}, db {args.db})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["stripe_sim_deliverer"].stop()
        sim.store.close()


if __name__ == "__main__":
    main()
