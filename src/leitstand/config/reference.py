"""Documents derived from the settings declaration: the reference page and the init template."""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from leitstand.config.settings import Settings

_SIMPLE_NAMES = {
    "SecretRef": 'secret ({"$env": NAME})',
    "Path": "path",
    "str": "string",
    "NoneType": "null",
}


def _type_name(annotation: Any) -> str:
    """A reader's name for a settings type: ``list[string]``, ``int | null``."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        name = _type_name(args[0])
    elif origin in (Union, types.UnionType):
        name = " | ".join(_type_name(arg) for arg in args)
    elif origin is Literal:
        name = " | ".join(repr(arg) for arg in args)
    elif origin in (list, dict):
        name = f"{origin.__name__}[{', '.join(_type_name(arg) for arg in args)}]"
    else:
        name = getattr(annotation, "__name__", str(annotation))
        name = _SIMPLE_NAMES.get(name, name)
    return name


def _default(field: FieldInfo) -> Any:
    if field.is_required():
        return None
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {
            k: v.model_dump(exclude_defaults=True) if isinstance(v, BaseModel) else v
            for k, v in value.items()
        }
    return value


def _mapped_model(annotation: Any) -> type[BaseModel] | None:
    """The value model of a ``dict[str, SomeSettings]`` field, else None."""
    if get_origin(annotation) is dict:
        value = get_args(annotation)[1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value
    return None


def iter_settings(
    model: type[BaseModel] = Settings, prefix: str = ""
) -> Iterator[tuple[str, FieldInfo, bool]]:
    """Yield ``(dotted name, field, is_section)`` for every declared setting."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        mapped = _mapped_model(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield key, field, True
            yield from iter_settings(annotation, f"{key}.")
        elif mapped is not None:
            yield key, field, True
            yield from iter_settings(mapped, f"{key}.<name>.")
        else:
            yield key, field, False


def reference_markdown() -> str:
    """The configuration reference, ``docs/configuration.md``."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from src/leitstand/config/settings.py by "
        "`leitstand config docs`; do not edit by hand. -->",
        "",
        "leitstand reads `leitstand.yaml` (or the file given with `--config` or "
        "`$LEITSTAND_CONFIG`). Every setting can be overridden by an environment variable: "
        "`LEITSTAND_` followed by the key in capitals, nested keys joined by `__`, e.g. "
        "`LEITSTAND_SERVER__PORT=9000`. Values in the environment are read as YAML, so "
        "`LEITSTAND_LANGUAGES='[de, en]'` is a list.",
        "",
        'Secrets are never written in clear text: write `{"$env": "NAME"}` to read an '
        'environment variable or `{"$file": "/run/secrets/name"}` to read a file.',
        "",
    ]
    header = ["| setting | type | default | meaning |", "|---|---|---|---|"]
    entries = list(iter_settings())
    top = [(key, field) for key, field, section in entries if not section and "." not in key]
    lines += ["## Top level", "", *header, *(_row(key, field) for key, field in top)]
    for key, field, is_section in entries:
        if is_section:
            annotation = field.annotation
            model = annotation if isinstance(annotation, type) else _mapped_model(annotation)
            about = inspect.cleandoc(model.__doc__ or "") if model else ""
            lines += ["", f"## `{key}`", "", about or field.description or "", "", *header]
        elif "." in key:
            lines.append(_row(key, field))
    return "\n".join(lines).rstrip() + "\n"


def _row(key: str, field: FieldInfo) -> str:
    default = "required" if field.is_required() else f"`{json.dumps(_default(field))}`"
    type_name = _type_name(field.annotation).replace("|", "\\|")
    return f"| `{key}` | {type_name} | {default} | {field.description or ''}{_constraints(field)} |"


def _constraints(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
    return f" ({', '.join(parts)})" if parts else ""


def init_template() -> str:
    """The commented ``leitstand.yaml`` that ``leitstand init`` writes."""
    out = [
        "# leitstand configuration. Every line below shows a default; uncomment to change it.",
        "# Reference: docs/configuration.md.",
        "# Environment overrides: LEITSTAND_<KEY>, nested keys joined with __.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        out.append(f"# {field.description}")
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.append(f"# {name}:")
            for sub, subfield in annotation.model_fields.items():
                out.append(f"#   # {subfield.description}")
                out.append(f"#   {sub}: {json.dumps(_default(subfield), ensure_ascii=False)}")
        elif name == "models":
            out += [
                "# models:",
                "#   gpt:",
                "#     base_url: https://api.openai.com/v1",
                "#     model: gpt-4o-mini",
                '#     api_key: {"$env": "OPENAI_API_KEY"}',
                "#   local:",
                "#     base_url: http://localhost:11434/v1   # Ollama",
                "#     model: llama3.1",
            ]
        elif name == "use_cases":
            out += [
                "# use_cases:",
                "#   default:",
                "#     description: Answers from the company handbook",
                "#     model: extractive        # or a key of models, e.g. gpt",
                "#     sources: []              # only these sources; all when empty",
            ]
        else:
            out.append(f"# {name}: {json.dumps(_default(field), ensure_ascii=False)}")
        out.append("")
    return "\n".join(out)
