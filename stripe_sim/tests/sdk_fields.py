"""Compare a JSON object the simulator returned with the installed ``stripe`` SDK's declared
fields at the pinned API version (the resource classes' type annotations).

``mismatches(obj)`` walks ``obj`` and every object nested in it and returns one line per
difference: a field the SDK declares required (its type does not allow ``None``) that is
missing, a field the SDK does not declare, a JSON type the annotation does not allow, or a null
where the annotation is not optional. ``paths(obj)`` counts the field paths it looked at.
"""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Any

import stripe
from stripe._object_classes import OBJECT_CLASSES, get_object_class

#: Fields whose values are free-form hashes (their keys are the caller's, not Stripe's).
FREE_FORM = {"metadata", "previous_attributes"}
_JSON = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
         float: "number", type(None): "null"}


def _resolve(arg: Any) -> Any:
    if isinstance(arg, typing.ForwardRef | str):
        name = arg.__forward_arg__ if isinstance(arg, typing.ForwardRef) else arg
        for kind, (_module, class_name) in OBJECT_CLASSES.items():
            if class_name == name:
                return get_object_class("V1", kind)
        return getattr(stripe, name, Any)
    return arg


def _arms(annotation: Any) -> list[Any]:
    """The alternatives a (possibly Union/Optional) annotation allows, forward refs resolved."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_arms(arg))
        return out
    return [_resolve(annotation)]


def _accepts(arm: Any, value: Any) -> bool | Any:
    """False if ``value`` cannot be ``arm``; True if it can; a class/annotation to recurse
    into when the value is a nested object or list."""
    kind = _JSON[type(value)]
    origin = typing.get_origin(arm)
    if arm is Any:
        return True
    if origin is typing.Literal:
        return kind == "string" and value in typing.get_args(arm) or \
            kind in ("integer", "boolean") and value in typing.get_args(arm)
    if arm is str or arm is Decimal:  # the SDK parses decimal strings into Decimal
        return kind == "string"
    if arm is bool:
        return kind == "boolean"
    if arm is int:
        return kind == "integer"
    if arm is float:
        return kind in ("integer", "number")
    if origin in (list, typing.List):  # noqa: UP006 - the SDK's own spelling
        return typing.get_args(arm)[0] if kind == "array" else False
    if origin in (dict, typing.Dict):  # noqa: UP006
        return kind == "object"
    if origin is not None and isinstance(origin, type) and issubclass(origin, stripe.ListObject):
        return ("list", typing.get_args(arm)[0]) if kind == "object" and \
            value.get("object") == "list" else False
    if isinstance(arm, type) and issubclass(arm, stripe.StripeObject):
        if origin is None and arm.__name__ == "UntypedStripeObject":
            return kind == "object"
        return arm if kind == "object" else False
    if origin is not None and getattr(origin, "__name__", "") == "UntypedStripeObject":
        return kind == "object"
    return False


def declared(cls: Any) -> dict[str, Any]:
    """The SDK's field annotations of ``cls`` (class constants left out)."""
    out = {}
    for klass in reversed(cls.__mro__):
        for key, annotation in getattr(klass, "__annotations__", {}).items():
            if typing.get_origin(annotation) is typing.ClassVar or key.isupper() or \
                    key.startswith("_"):
                continue
            out[key] = annotation
    return out


def class_for(value: dict[str, Any], hint: Any) -> Any:
    """The SDK class of a JSON object: by its ``object`` field, else the annotation's class."""
    kind = value.get("object")
    if isinstance(kind, str) and kind in OBJECT_CLASSES and kind != "list":
        return get_object_class("V1", kind)
    return hint


def mismatches(value: dict[str, Any], cls: Any = None, path: str = "$",
               counted: list[str] | None = None) -> list[str]:
    """Every difference between ``value`` and the SDK's declaration of its class."""
    if value.get("object") == "list" and cls is None:
        return [p for i, element in enumerate(value["data"])
                for p in mismatches(element, None, f"{path}.data[{i}]", counted)]
    cls = class_for(value, cls)
    if cls is None or not isinstance(cls, type):
        return [f"{path}: no SDK class for object {value.get('object')!r}"]
    fields = declared(cls)
    problems = []
    if value.get("deleted") is True:
        required: set[str] = set()
    else:
        required = {key for key, annotation in fields.items()
                    if type(None) not in typing.get_args(annotation)
                    and key not in value}
    problems += [f"{path}.{key}: required by the SDK, missing" for key in sorted(required)]
    for key, item in value.items():
        where = f"{path}.{key}"
        if counted is not None:
            counted.append(where)
        if key not in fields:
            problems.append(f"{where}: not a field of the SDK's {cls.__name__}")
            continue
        problems += _check_value(item, fields[key], where, key, counted)
    return problems


def _check_value(item: Any, annotation: Any, where: str, key: str,
                 counted: list[str] | None) -> list[str]:
    arms = _arms(annotation)
    if item is None:
        return [] if type(None) in arms else [f"{where}: null, but the SDK type is not optional"]
    verdicts = [_accepts(arm, item) for arm in arms if arm is not type(None)]
    nested = [v for v in verdicts if v is not False and v is not True]
    if True in verdicts or key in FREE_FORM and verdicts:
        return []
    if not nested:
        return [f"{where}: {_JSON[type(item)]} is not a {annotation}"]
    target = nested[0]
    if isinstance(target, tuple):  # a list object of ``target[1]``
        return [p for i, element in enumerate(item["data"])
                for p in _element(element, target[1], f"{where}.data[{i}]", counted)]
    if isinstance(item, list):
        return [p for i, element in enumerate(item)
                for p in _element(element, target, f"{where}[{i}]", counted)]
    return mismatches(item, target, where, counted)


def _element(element: Any, annotation: Any, where: str, counted: list[str] | None) -> list[str]:
    return _check_value(element, annotation, where, "", counted)
