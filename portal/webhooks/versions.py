"""Events rendered on an API version other than the pinned one.

Their payloads do not fit our types (an older invoice has no ``parent``, so it names no
subscription), so each is logged as an error (the endpoint's version needs fixing) and its
object is re-fetched at the pinned version, which the handlers then read instead.
"""

from __future__ import annotations

import logging

from portal.stripe_gateway import PINNED_API_VERSION, WebhookEvent, get_gateway

log = logging.getLogger("continuum.billing")


def at_pinned_version(event: WebhookEvent) -> WebhookEvent:
    """``event`` itself, or (on another version) with its object re-fetched at ours."""
    if event.api_version in (None, PINNED_API_VERSION):
        return event
    log.error(
        "webhook %s (%s) is on API version %s, not the pinned %s: set the endpoint's version "
        "to ours; re-fetching its %s %s instead of reading the payload",
        event.id,
        event.type,
        event.api_version,
        PINNED_API_VERSION,
        event.object_type,
        event.object_id,
    )
    if not event.object_type or not event.object_id:
        return event.with_object(None)
    return event.with_object(
        get_gateway().retrieve_event_object(event.object_type, event.object_id)
    )
