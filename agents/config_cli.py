"""Command-line flags generated from frozen attrs configs: one flag per field, its docstring as help.

Field docstrings are the string literals written under each field in the class body (read from the
source with ``ast``), so the CLI and the code document a setting in one place. The parsed namespace also
records which flags were given explicitly (:func:`given_fields`): a preset fills in only the others. A field
whose metadata says ``{"flag": False}`` gets no flag.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import textwrap
from collections.abc import Mapping
from typing import Any

import attrs


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each annotated field of a class, by field name."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for field, following in zip(body, body[1:]):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[field.target.id] = " ".join(following.value.value.split())
    return docs


def json_object(value: Any) -> dict[str, Any]:
    """A dict from a mapping or from JSON text (how dict-valued settings arrive from a flag or a file)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as error:
            raise ValueError(
                f"expected a JSON object, got {value!r:.80} ({error.msg} at column {error.colno})"
            ) from None
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a JSON object (a mapping of option names to values), got {type(value).__name__}")
    return dict(value)


def json_flag(text: str) -> dict[str, Any]:
    try:
        return json_object(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


GIVEN = "given_flags"
"""The namespace attribute holding the destinations of the flags given on the command line."""


def _mark_given(namespace: argparse.Namespace, dest: str) -> None:
    setattr(namespace, GIVEN, set(getattr(namespace, GIVEN, ())) | {dest})


class _Store(argparse.Action):
    """``store``, remembering that the flag was given."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _mark_given(namespace, self.dest)


class _Toggle(argparse.BooleanOptionalAction):
    """``--flag`` / ``--no-flag``, remembering that one was given."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        _mark_given(namespace, self.dest)


def given_fields(args: argparse.Namespace) -> frozenset[str]:
    """The fields whose flags the command line gave (whatever their value), as opposed to defaults."""
    return frozenset(getattr(args, GIVEN, ()))


def has_flag(field: attrs.Attribute) -> bool:
    return field.metadata.get("flag", True)


def add_config_flags(parser: argparse.ArgumentParser, cls: type, group_title: str) -> None:
    """``--field-name`` for every field of an attrs class, typed by its default (JSON for a dict)."""
    group = parser.add_argument_group(group_title)
    docs = field_docs(cls)
    for field in filter(has_flag, attrs.fields(cls)):
        flag = "--" + field.name.replace("_", "-")
        default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default
        shown = json.dumps(default) if isinstance(default, dict) else default
        help_text = f"{docs.get(field.name, '')} (default: {shown})".replace("%", "%%")
        if isinstance(default, dict):
            group.add_argument(flag, dest=field.name, type=json_flag, default=default, help=help_text, action=_Store)
        elif isinstance(default, bool):
            group.add_argument(flag, dest=field.name, action=_Toggle, default=default, help=help_text)
        else:
            kind = type(default)
            group.add_argument(flag, dest=field.name, type=kind, default=default, help=help_text, action=_Store)


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """An instance of the config class from the parsed flags."""
    return cls(**{field.name: getattr(args, field.name) for field in filter(has_flag, attrs.fields(cls))})
