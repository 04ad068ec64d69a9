"""The config file format every role shares: YAML → a strict pydantic model.

One base model, one loader, one error format, so a camera file, the gateway's file,
central's and the notices file all fail the same way: one line naming the file, the
key path and what was expected::

    config/edge.yaml: broker.port: Input should be less than or equal to 65535

It lives in the contract package because edge and central both read config files and
may share nothing else; it knows no role's settings. ``jaywatch config schema KIND``
prints each model's JSON Schema (``Field(description=...)`` becomes each key's help
in an editor).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line for the operator."""


class DeprecatedKeyWarning(FutureWarning):
    """A config key spelled the old way (still accepted). A FutureWarning, so it is
    shown to the operator by default (DeprecationWarning is hidden outside __main__)."""


class StrictModel(BaseModel):
    """Base of every config section: unknown keys are errors (a typo must not silently
    fall back to a default) and a loaded config is read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def format_validation_error(path: Path | str, err: ValidationError) -> str:
    """``FILE: key.path: what was expected`` for the first error, and how many more.

    >>> from pydantic import Field
    >>> class Port(StrictModel):
    ...     port: int = Field(1883, le=65535)
    >>> try:
    ...     Port.model_validate({"port": 70000, "prot": 1})
    ... except ValidationError as e:
    ...     print(format_validation_error("central.yaml", e))
    central.yaml: port: Input should be less than or equal to 65535 (and 1 more)
    """
    errors = err.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {loc}: {msg}{more}" if loc else f"{path}: {msg}{more}"


def load_yaml_mapping(path: Path | str) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping (an empty file is an empty mapping);
    errors name the file (and the line, for YAML syntax)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of keys at the top level")
    return data


def validate_config(model: type[M], data: object, path: Path | str) -> M:
    """``model`` from already-read data; a validation error becomes one ConfigError line."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(path, e)) from None


def load_config_file(model: type[M], path: Path | str) -> M:
    """Read ``path`` (YAML) into ``model``: the one loader of every config file."""
    return validate_config(model, load_yaml_mapping(path), path)


def renamed_key(data: object, old: str, new: str, where: str) -> object:
    """A ``mode="before"`` helper: accept the old spelling of a key with a warning.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     renamed_key({"cafile": "ca.crt"}, "cafile", "ca_file", "mqtt")
    ...     print(w[0].message)
    {'ca_file': 'ca.crt'}
    mqtt.cafile is deprecated: rename it to mqtt.ca_file
    """
    if isinstance(data, dict) and old in data:
        if new in data:
            raise ValueError(f"{where}.{old} and {where}.{new} are the same setting: keep {new}")
        data = {(new if k == old else k): v for k, v in data.items()}
        warnings.warn(
            f"{where}.{old} is deprecated: rename it to {where}.{new}",
            DeprecatedKeyWarning,
            stacklevel=2,
        )
    return data
