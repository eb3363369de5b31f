"""Decode Stripe's form encoding (``a[b][0][c]=v``) into nested dicts of strings.

Lists arrive as dicts keyed by ``"0"``, ``"1"``...; the strict parameter check turns them into
lists where the SDK's parameter types expect one, so metadata keys that look like numbers stay keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from stripe_sim.errors import StripeError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build the nested parameter tree from ``(key, value)`` pairs in request order."""
    tree: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            raise StripeError(f"Invalid parameter name: {key}", param=key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        node = tree
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if part == "":  # `expand[]=a&expand[]=b`: append in order
                part = str(len(node))
            if not isinstance(node, dict):
                raise StripeError(f"Invalid parameter structure for {key}", param=key)
            if last:
                if isinstance(node.get(part), dict):
                    raise StripeError(f"Invalid parameter structure for {key}", param=key)
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise StripeError(f"Invalid parameter structure for {key}", param=key)
                node = child
    return tree
