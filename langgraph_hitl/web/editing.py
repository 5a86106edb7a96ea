"""The modify form: inputs generated from an action's JSON Schema, and the edit read back.

`edit_fields(args, schema)` turns the action's args (and the gate's `args_schema`, if it
has one) into one `EditField` per top-level arg: a text input for a string, a number or
an integer, a choice for a boolean or an `enum`, and a JSON text area for anything
nested (an object, an array, a union). Without a schema, each arg's kind follows the
value it holds now. `edited_args(fields, form)` reads the submitted form back into args,
converting each field by its kind; a value that does not convert (text for a number,
NaN or an infinity, malformed JSON) raises `BadInputError` naming the field. Whether
the edited args are acceptable is the desk's call (`validate_decision`: the schema, the
action name, JSON a checkpoint can hold), as for the CLI's `modify`: this module only
reads the form.

Everything here came from an agent (the args, and the schema through the gate's
configuration): it is handed to the template as plain values, which autoescape shows as
text.

Example:
    >>> schema = {
    ...     "type": "object",
    ...     "properties": {"amount": {"type": "number"}, "currency": {"enum": ["EUR", "USD"]}},
    ...     "required": ["amount"],
    ... }
    >>> fields = edit_fields({"amount": 52000.0, "currency": "USD"}, schema)
    >>> [(f.name, f.kind, f.value) for f in fields]
    [('amount', 'number', '52000.0'), ('currency', 'choice', '"USD"')]
    >>> edited_args(fields, {"arg.amount": "48000", "arg.currency": '"EUR"'})
    {'amount': 48000, 'currency': 'EUR'}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langgraph_hitl._input import parse_json
from langgraph_hitl.errors import BadInputError

Kind = Literal["text", "number", "integer", "choice", "json"]

PREFIX = "arg."
"""Each arg's input is named `arg.<name>`: nothing else in the form can be taken for one."""

_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")


@dataclass(frozen=True, kw_only=True)
class EditField:
    """One arg as the modify form shows it."""

    name: str
    """The arg's name (the input is `arg.<name>`)."""
    kind: Kind
    """How the input is shown and read back."""
    value: str
    """The input's text: the arg as it stands, or what the reviewer typed."""
    present: bool
    """Whether the action's args have this arg now (an empty optional one is left out)."""
    nullable: bool = False
    """The schema allows null: an empty input means null."""
    required: bool = False
    """The schema requires it."""
    options: list[tuple[str, str]] = field(default_factory=list)
    """For a choice: (the option's value as JSON, its label)."""
    description: str | None = None
    """The schema's title or description of the arg."""

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def _resolve(schema: Any, root: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """`schema` with a local `$ref` (`#/$defs/X`, as pydantic writes them) followed."""
    if not isinstance(schema, Mapping):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and depth < 20:
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return _resolve(target, root, depth + 1)
    return dict(schema)


def _shape(schema: dict[str, Any], root: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The one non-null schema of an `anyOf`/`oneOf` with null (pydantic's `X | None`),
    and whether null is allowed."""
    for union in ("anyOf", "oneOf"):
        options = schema.get(union)
        if isinstance(options, list):
            resolved = [_resolve(o, root) for o in options]
            others = [o for o in resolved if o.get("type") != "null"]
            if len(others) == 1 and len(others) < len(resolved):
                return {**schema, **others[0]}, True
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        rest = [k for k in kinds if k != "null"]
        return {**schema, "type": rest[0] if len(rest) == 1 else rest}, True
    return schema, False


def _kind_of_schema(schema: dict[str, Any]) -> Kind:
    if isinstance(schema.get("enum"), list) or "const" in schema:
        return "choice"
    kind = schema.get("type")
    if kind == "string":
        return "text"
    if kind in ("number", "integer"):
        return "number" if kind == "number" else "integer"
    if kind == "boolean":
        return "choice"
    return "json"


def _kind_of_value(value: Any) -> Kind:
    if isinstance(value, bool):
        return "choice"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "json"


def _fits(value: Any, kind: Kind) -> bool:
    """Whether a text or number input shows `value` as it is."""
    if kind == "text":
        return isinstance(value, str)
    if kind == "number":
        return _kind_of_value(value) in ("number", "integer")
    if kind == "integer":
        return _kind_of_value(value) == "integer"
    return True


def _choices(schema: dict[str, Any], value: Any, nullable: bool) -> list[Any]:
    if isinstance(schema.get("enum"), list):
        values = list(schema["enum"])
    elif "const" in schema:
        values = [schema["const"]]
    else:
        values = [True, False]
    if nullable and None not in values:
        values.append(None)
    if value not in values:
        values.insert(0, value)  # what the agent proposed stays selectable, and is judged
    return values


def _as_text(value: Any, kind: Kind) -> str:
    if kind == "json" or kind == "choice":
        return json.dumps(value, ensure_ascii=False, indent=2 if kind == "json" else None)
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def edit_fields(args: Mapping[str, Any], schema: Mapping[str, Any] | None) -> list[EditField]:
    """One field per arg (the schema's properties first, in its order, then args it does
    not name), prefilled with the args as they stand."""
    root: Mapping[str, Any] = schema or {}
    top = _resolve(root, root)
    properties = top.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = set(top.get("required") or [])
    out: list[EditField] = []
    names = [*properties, *(name for name in args if name not in properties)]
    for name in names:
        present = name in args
        value = args.get(name)
        if name in properties:
            prop, nullable = _shape(_resolve(properties[name], root), root)
            kind = _kind_of_schema(prop)
            if present and value is not None and not _fits(value, kind):
                # The agent's value is not of the schema's kind (a number given as text):
                # shown as JSON, so editing it does not quietly change its type.
                kind = "json"
            about = prop.get("description") if isinstance(prop.get("description"), str) else None
        else:
            prop, nullable, about = {}, False, None
            kind = _kind_of_value(value) if present else "json"
        options: list[tuple[str, str]] = []
        if kind == "choice":
            options = [
                (json.dumps(o, ensure_ascii=False), "(none)" if o is None else _label(o))
                for o in _choices(prop, value if present else None, nullable)
            ]
        out.append(
            EditField(
                name=name,
                kind=kind,
                value=_as_text(value, kind) if present else "",
                present=present,
                nullable=nullable,
                required=name in required,
                options=options,
                description=about,
            )
        )
    return out


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def with_values(fields: list[EditField], form: Mapping[str, Any]) -> list[EditField]:
    """The fields holding what the reviewer typed: a refused edit is shown again as sent."""
    from dataclasses import replace

    kept = []
    for f in fields:
        sent = form.get(f.input_name)
        kept.append(replace(f, value=sent) if isinstance(sent, str) else f)
    return kept


def _number(text: str, name: str, integer: bool) -> int | float:
    word = text.strip().lower().lstrip("+-")
    if word in ("nan", "inf", "infinity"):
        raise BadInputError(f"{name}: {text.strip()} is not a finite number")
    pattern = _INTEGER if integer else _NUMBER
    if not pattern.fullmatch(text.strip()):
        what = "a whole number" if integer else "a number"
        raise BadInputError(f"{name}: {text.strip()!r} is not {what}")
    try:
        # JSON's reading: 48000 stays an integer, 48000.5 is a float.
        number: int | float = json.loads(text.strip())
    except ValueError:  # more digits than Python reads
        raise BadInputError(f"{name}: {text.strip()[:20]}... has too many digits") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise BadInputError(f"{name}: {text.strip()} is past the range of a number")
    return number


def _read(f: EditField, text: str) -> tuple[bool, Any]:
    """(whether the arg is kept, its value) for one field's submitted text."""
    if f.kind == "choice":
        chosen = dict(f.options)
        if text not in chosen:
            raise BadInputError(f"{f.name}: choose one of the listed values")
        return True, json.loads(text)
    blank = text == "" if f.kind == "text" else not text.strip()
    if blank and not f.present:
        return False, None  # an arg the action has not, left empty: still absent
    if blank and f.nullable:
        return True, None
    if f.kind == "text":
        return True, text
    if blank:
        return False, None  # emptied: left out, and the schema says whether it may be
    if f.kind in ("number", "integer"):
        return True, _number(text, f.name, f.kind == "integer")
    if text.lstrip().startswith("@"):
        # `parse_json` reads `@path` as a file: never a file on the server from a form.
        raise BadInputError(f"{f.name} is not valid JSON: it starts with '@'")
    return True, parse_json(text.strip(), f.name)


def edited_args(fields: list[EditField], form: Mapping[str, Any]) -> dict[str, Any]:
    """The args the submitted form gives, each field converted by its kind.

    A field the form does not carry keeps the arg as it was shown, so a form for an
    older schema never drops an arg silently; `BadInputError` names the first field that
    does not convert.

    Example:
        >>> schema = {"properties": {"amount": {"type": "number"}}}
        >>> fields = edit_fields({"amount": 52000.0}, schema)
        >>> try:
        ...     edited_args(fields, {"arg.amount": "NaN"})
        ... except BadInputError as error:
        ...     print(error)
        amount: NaN is not a finite number
    """
    out: dict[str, Any] = {}
    for f in fields:
        sent = form.get(f.input_name)
        if not isinstance(sent, str):
            if f.present:
                raise BadInputError(f"{f.name}: missing from the form; reload the page")
            continue
        keep, value = _read(f, sent)
        if keep:
            out[f.name] = value
    return out
