"""Reading leitstand.yaml and the environment into validated settings.

Precedence, highest first: explicit overrides (Python API), ``LEITSTAND_*`` environment
variables (nested keys joined by ``__``, e.g. ``LEITSTAND_SERVER__PORT=9000``), the YAML file,
the defaults declared in :mod:`leitstand.config.settings`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from leitstand.config.settings import Settings
from leitstand.errors import ConfigError

CONFIG_FILE_NAME = "leitstand.yaml"
ENV_PREFIX = "LEITSTAND_"
CONFIG_ENV = "LEITSTAND_CONFIG"


@dataclass(frozen=True)
class Config:
    """Validated settings plus the folder that relative paths in them are resolved against."""

    settings: Settings
    base_dir: Path
    path: Path | None = None

    @property
    def data_dir(self) -> Path:
        return (self.base_dir / self.settings.data_dir).resolve()

    @property
    def database_url(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url
        return f"sqlite:///{self.data_dir / 'leitstand.db'}"

    def resolve_path(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base_dir / path).resolve()


def find_config_file(explicit: Path | str | None = None) -> Path | None:
    """The config file to use: explicit path, then $LEITSTAND_CONFIG, then ./leitstand.yaml."""
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"configuration file {path} does not exist",
                hint="create one with `leitstand init`, or leave out --config to use the defaults",
            )
        return path
    env_path = os.environ.get(CONFIG_ENV)
    if env_path:
        return find_config_file(env_path)
    local = Path.cwd() / CONFIG_FILE_NAME
    return local if local.is_file() else None


def load_config(
    path: Path | str | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, merge and validate the configuration; raise :class:`ConfigError` on any mistake."""
    config_path = find_config_file(path)
    data: dict[str, Any] = {}
    if config_path is not None:
        data = _read_yaml(config_path)
    env_data = environment_overrides(os.environ if environ is None else environ)
    merged = _deep_merge(_deep_merge(data, env_data), dict(overrides or {}))
    origin = str(config_path) if config_path else "settings"
    settings = validate_settings(merged, origin=origin)
    base_dir = config_path.parent.resolve() if config_path else Path.cwd().resolve()
    return Config(settings=settings, base_dir=base_dir, path=config_path)


def validate_settings(data: Mapping[str, Any], *, origin: str = "settings") -> Settings:
    """Validate raw settings and translate pydantic's errors into one clear message."""
    try:
        return Settings.model_validate(dict(data))
    except ValidationError as exc:
        raise _config_error(exc, data, origin) from None


def environment_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Nested settings from ``LEITSTAND_*`` variables; values are parsed as YAML scalars."""
    result: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not keys or keys[0] not in Settings.model_fields:
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node = result
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return result


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text", hint="save it as UTF-8") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{path} is not valid YAML{where}: {problem}",
            hint="check indentation and quoting; `leitstand init --force` writes a fresh file",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must hold a mapping of settings at the top level, not {type(data).__name__}"
        )
    return data


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _lookup(data: Any, loc: tuple[int | str, ...]) -> tuple[bool, Any]:
    node = data
    for part in loc:
        if isinstance(node, str):
            return False, None
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, node


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """Names of the settings allowed at a location, for 'did you mean' hints."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        if model is None:
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return list(model.model_fields) if model else []


def _config_error(exc: ValidationError, data: Mapping[str, Any], origin: str) -> ConfigError:
    lines = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not str(part).startswith("function-after"))
        key = ".".join(str(part) for part in loc) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = _fields_at(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            suggestion = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"{key}: unknown setting{suggestion} Allowed here: {', '.join(allowed)}")
            continue
        found, value = _lookup(data, loc)
        shown = f" = {value!r}" if found and loc else ""
        if error["type"] == "missing":
            lines.append(f"{key}: this setting is required")
        elif not loc:  # a check across settings: its message names them
            lines.append(message)
        else:
            lines.append(f"{key}{shown}: {message}")
    detail = "\n  ".join(lines)
    return ConfigError(
        f"invalid configuration in {origin}:\n  {detail}",
        hint="see docs/configuration.md for every setting, its type and default",
    )
