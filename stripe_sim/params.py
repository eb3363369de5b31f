"""Strict request checks against the stripe SDK's own parameter TypedDicts (``stripe.params``).

The decoded form tree is walked alongside the TypedDict: unknown keys give ``parameter_unknown``,
absent required keys ``parameter_missing``, and scalars are converted to the declared types.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, ForwardRef, Literal, NotRequired, Required, Union

from stripe._request_options import RequestOptions
from stripe._stripe_object import UntypedStripeObject
from typing_extensions import is_typeddict

from stripe_sim.errors import StripeError, missing_param

_REQUEST_OPTIONS = frozenset(RequestOptions.__annotations__)
_INT = re.compile(r"^-?\d+$")


def check(params_type: type, tree: dict[str, Any]) -> dict[str, Any]:
    """Validate ``tree`` against a top-level ``stripe.params`` TypedDict and return typed values."""
    return _check_typeddict(params_type, tree, "", top=True)


@cache
def _fields(td: type, top: bool) -> tuple[dict[str, Any], frozenset[str]]:
    """Resolved field annotations and required keys of a TypedDict (request options removed)."""
    namespace = vars(sys.modules[td.__module__])
    fields = {}
    for name, annotation in td.__annotations__.items():
        if top and name in _REQUEST_OPTIONS:
            continue
        fields[name] = _resolve(annotation, namespace)
    required = frozenset(k for k in td.__required_keys__ if k in fields)  # type: ignore[attr-defined]
    return fields, required


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    """Evaluate forward references (the SDK quotes most nested types) recursively."""
    if isinstance(annotation, str):
        annotation = eval(annotation, namespace)  # noqa: S307 - SDK-provided type strings
    if isinstance(annotation, ForwardRef):
        annotation = eval(annotation.__forward_arg__, namespace)  # noqa: S307
    origin = typing.get_origin(annotation)
    if origin in (NotRequired, Required):
        return _resolve(typing.get_args(annotation)[0], namespace)
    if origin in (Union, types.UnionType):
        options = tuple(_resolve(a, namespace) for a in typing.get_args(annotation))
        return Union[options]  # noqa: UP007 - built at run time; one origin for every union
    if origin in (list, dict):
        args = tuple(_resolve(a, namespace) for a in typing.get_args(annotation))
        return list[args[0]] if origin is list else dict[args[0], args[1]]  # type: ignore[valid-type]
    return annotation


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _check_typeddict(td: type, value: Any, where: str, top: bool = False) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StripeError(f"Invalid object for {where}: expected a hash.", param=where)
    fields, required = _fields(td, top)
    result = {}
    for key, raw in value.items():
        name = _name(where, key)
        if key not in fields:
            raise StripeError(
                f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )
        result[key] = _check_value(fields[key], raw, name)
    for key in sorted(required - value.keys()):
        name = _name(where, key)
        raise missing_param(name)
    return result


def _check_value(annotation: Any, raw: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Union:
        return _check_union(typing.get_args(annotation), raw, where)
    if is_typeddict(annotation):
        return _check_typeddict(annotation, raw, where)
    if origin is list:
        return _check_list(typing.get_args(annotation)[0], raw, where)
    if origin is dict or annotation is UntypedStripeObject or origin is UntypedStripeObject:
        return _check_map(raw, where)
    if origin is Literal:
        if raw not in typing.get_args(annotation):
            allowed = ", ".join(repr(a) for a in typing.get_args(annotation) if a != "")
            raise StripeError(f"Invalid {where}: must be one of {allowed}", param=where)
        return raw
    if not isinstance(raw, str):
        raise StripeError(f"Invalid value for {where}: expected a single value.", param=where)
    return _scalar(annotation, raw, where)


def _check_union(options: tuple[Any, ...], raw: Any, where: str) -> Any:
    first_error: StripeError | None = None
    for option in sorted(options, key=lambda o: _shape_rank(o, raw)):
        try:
            return _check_value(option, raw, where)
        except StripeError as error:
            if error.code in ("parameter_unknown", "parameter_missing"):
                raise
            first_error = first_error or error
    assert first_error is not None
    raise first_error


def _shape_rank(option: Any, raw: Any) -> int:
    """Try the options whose shape matches the value first, so errors name the likely intent."""
    structured = is_typeddict(option) or typing.get_origin(option) in (list, dict)
    return 0 if structured == isinstance(raw, dict) else 1


def _check_list(item: Any, raw: Any, where: str) -> list[Any]:
    if not isinstance(raw, dict) or not all(k.isdigit() for k in raw):
        raise StripeError(f"Invalid array for {where}.", param=where)
    indexes = sorted(int(k) for k in raw)
    if indexes != list(range(len(indexes))):
        raise StripeError(f"Invalid array for {where}: indexes must start at 0.", param=where)
    return [_check_value(item, raw[str(i)], f"{where}[{i}]") for i in indexes]


def _check_map(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or any(not isinstance(v, str) for v in raw.values()):
        raise StripeError(f"Invalid hash for {where}.", param=where)
    return dict(raw)


def _scalar(annotation: Any, raw: str, where: str) -> Any:
    if annotation is bool:
        if raw not in ("true", "false"):
            raise StripeError(f"Invalid boolean: {raw}", param=where)
        return raw == "true"
    if annotation is int:
        if not _INT.match(raw):
            raise StripeError(
                f"Invalid integer: {raw}", code="parameter_invalid_integer", param=where
            )
        return int(raw)
    if annotation is float:
        try:
            return float(raw)
        except ValueError:
            raise StripeError(f"Invalid decimal: {raw}", param=where) from None
    if annotation is Decimal:
        return _decimal(raw, where)
    if annotation is str:
        return raw
    raise StripeError(f"Unsupported value for {where}.", param=where)


def _decimal(raw: str, where: str) -> Decimal:
    """A finite decimal string such as ``0.01`` (Stripe's ``*_decimal`` parameters)."""
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise StripeError(f"Invalid decimal: {raw}", param=where) from None
    if not value.is_finite():
        raise StripeError(f"Invalid decimal: {raw}", param=where)
    return value
