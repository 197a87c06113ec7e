"""Tool calls: checked against a use case's allow-list and the tool's JSON schema, or held.

A request offers tools in OpenAI's format (``{"type": "function", "function": {"name",
"parameters"}}``); the model answers with ``tool_calls`` whose ``arguments`` are a JSON
string. :class:`ToolCallGuard` gives each call a :class:`ToolVerdict`:

``allowed``
    the tool may be called with these arguments;
``rejected``
    with a ``reason`` written for the developer: not in the allow-list, not offered by the
    request, arguments not JSON, or arguments that fail the schema (with the JSON path);
``held``
    the tool is listed in ``tools.approve``: the call is recorded as a pending
    :class:`~leitstand.store.models.ToolApproval` and waits for a person
    (``leitstand approvals``).

A request's schemas are compiled once, when :func:`offered_tools` reads them (so a broken
schema is the client's error before any model is called), and validators are cached by the
schema's hash, so a tool that every request offers is compiled once per process. Schemas
may only refer to themselves (``#...``): nothing is ever fetched from a URL a request names.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable
from sqlalchemy import CursorResult, select, update

from leitstand.config.settings import ToolSettings
from leitstand.errors import LeitstandError, NotFoundError
from leitstand.store.database import Database
from leitstand.store.models import ToolApproval, utcnow

Status = Literal["allowed", "rejected", "held"]
APPROVAL_STATUSES = ("pending", "approved", "rejected")
MAX_ERRORS = 3
"""Schema errors named in one rejection; the rest are counted."""
_MAX_MESSAGE = 200
_CACHE_SIZE = 1024
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF_KEYS = ("$ref", "$dynamicRef", "$recursiveRef")


class InvalidToolsError(LeitstandError):
    """A request's ``tools`` are malformed or a tool's schema is not a valid JSON schema.

    The client's error (HTTP 400); ``param`` points into the request, e.g.
    ``tools[1].function.parameters``.
    """

    def __init__(
        self, message: str, *, param: str, tool: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.param = param
        self.tool = tool


# -- the tools a request offers ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferedTool:
    name: str
    validator: Validator | None
    """Checks the arguments; None when the tool declares no parameters schema."""


@dataclass(frozen=True, slots=True)
class OfferedTools:
    """The tools of one request by name, with their compiled validators."""

    tools: Mapping[str, OfferedTool]

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def names(self) -> list[str]:
        return list(self.tools)


def offered_tools(tools: object) -> OfferedTools:
    """Read a request's ``tools`` (None or a list in OpenAI's format) and compile the schemas.

    Raises :class:`InvalidToolsError` naming the tool when the list is malformed, a name
    comes twice, or a schema is invalid or refers outside itself.
    """
    if tools is None:
        return OfferedTools({})
    if not isinstance(tools, Sequence) or isinstance(tools, (str, bytes)):
        raise InvalidToolsError("tools must be a list", param="tools")
    offered: dict[str, OfferedTool] = {}
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        kind = tool.get("type", "function") if isinstance(tool, Mapping) else None
        spec = tool.get(kind) if isinstance(tool, Mapping) and isinstance(kind, str) else None
        name = spec.get("name") if isinstance(spec, Mapping) else None
        if not isinstance(name, str) or not name:
            raise InvalidToolsError(
                f"{param} has no name",
                param=param,
                hint='a tool looks like {"type": "function", "function": {"name": ..., '
                '"parameters": {...}}}',
            )
        if name in offered:
            raise InvalidToolsError(f"tool {name!r} is offered twice", param=param, tool=name)
        assert isinstance(spec, Mapping)
        schema = spec.get("parameters") if kind == "function" else None
        validator = None if schema is None else _validator(schema, name, f"{param}.{kind}")
        offered[name] = OfferedTool(name, validator)
    return OfferedTools(offered)


class _ValidatorCache:
    """Compiled validators by the hash of their schema; least recently used ones go first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, Validator] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Validator | None:
        with self._lock:
            validator = self._items.get(key)
            if validator is not None:
                self._items.move_to_end(key)
            return validator

    def put(self, key: bytes, validator: Validator) -> None:
        with self._lock:
            self._items[key] = validator
            if len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_validators = _ValidatorCache(_CACHE_SIZE)


def _validator(schema: object, tool: str, param: str) -> Validator:
    param = f"{param}.parameters"
    if not isinstance(schema, Mapping):
        raise InvalidToolsError(
            f"the parameters of tool {tool!r} must be a JSON schema object",
            param=param,
            tool=tool,
        )
    try:
        canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidToolsError(
            f"the parameters of tool {tool!r} are not JSON: {exc}", param=param, tool=tool
        ) from None
    key = hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).digest()
    cached = _validators.get(key)
    if cached is not None:
        return cached
    schema = dict(schema)
    dialect = schema.get("$schema")
    if dialect is not None and not isinstance(dialect, str):
        raise InvalidToolsError(
            f"the parameters of tool {tool!r} have a $schema that is not a URI",
            param=param,
            tool=tool,
        )
    for ref in _refs(schema):
        if not ref.startswith("#"):
            raise InvalidToolsError(
                f"the parameters of tool {tool!r} refer to {ref!r}; only references "
                "within the schema (#/$defs/...) are followed",
                param=param,
                tool=tool,
                hint="move the referenced definition into the schema's $defs",
            )
    # An unknown $schema falls back to 2020-12 (as OpenAI's own validation does not care).
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise InvalidToolsError(
            f"the parameters of tool {tool!r} are not a valid JSON schema: "
            f"{_path('parameters', exc.absolute_path)}: {_short(exc.message)}",
            param=param,
            tool=tool,
        ) from None
    # An empty registry: a reference the schema cannot resolve itself fails, never fetches.
    validator = cls(schema, registry=Registry())
    _validators.put(key, validator)
    return validator


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in _REF_KEYS and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


# -- verdicts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolVerdict:
    """What the guard decided about one tool call of a model's answer."""

    index: int
    """Position of the call in the answer's ``tool_calls``."""
    call_id: str | None
    """The call's ``id`` as the model gave it."""
    tool: str
    """The called tool's name ("" when the call named none)."""
    arguments: str
    """The arguments as the model gave them (a JSON string)."""
    status: Status
    reason: str | None = None
    """Why a call was rejected or held, for the developer."""
    approval_id: int | None = None
    """The pending approval of a held call (``leitstand approvals approve ID``)."""

    @property
    def allowed(self) -> bool:
        return self.status == "allowed"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "id": self.call_id, "tool": self.tool}
        data["status"] = self.status
        if self.reason is not None:
            data["reason"] = self.reason
        if self.approval_id is not None:
            data["approval_id"] = self.approval_id
        return data


class ToolCallGuard:
    """Checks a model's tool calls against a use case's :class:`ToolSettings`.

    ``approvals`` records held calls; it is needed when ``settings.approve`` lists a tool.
    A tool listed in ``approve`` is allowed (to be held) even when ``allow`` omits it.
    """

    def __init__(self, settings: ToolSettings, approvals: ToolApprovals | None = None) -> None:
        if settings.approve and approvals is None:
            raise ValueError("tools.approve lists tools, so held calls need a ToolApprovals store")
        self.settings = settings
        self.approvals = approvals
        self._approve = frozenset(settings.approve)
        self._allow = None if settings.allow is None else frozenset(settings.allow) | self._approve

    def check(
        self,
        tools: OfferedTools | Sequence[Any] | None,
        tool_calls: Sequence[Any] | None,
        *,
        trace_id: str | None = None,
        use_case: str | None = None,
        key_name: str | None = None,
    ) -> list[ToolVerdict]:
        """A verdict for each call, in order; held calls are recorded as pending approvals.

        ``tools`` is the request's list (or what :func:`offered_tools` made of it: pass that
        to compile once per request); it raises :class:`InvalidToolsError` when malformed.
        """
        offered = tools if isinstance(tools, OfferedTools) else offered_tools(tools)
        verdicts = []
        for index, call in enumerate(tool_calls or ()):
            verdict = self._verdict(index, call, offered)
            if verdict.status == "held":
                verdict = self._hold(verdict, trace_id, use_case, key_name)
            verdicts.append(verdict)
        return verdicts

    def _verdict(self, index: int, call: object, offered: OfferedTools) -> ToolVerdict:
        call_id, name, arguments, is_json = _read_call(call)
        text = _text(arguments)
        problem = self._tool_problem(index, name, offered)
        if problem is None:
            value, problem = _parse_arguments(name, arguments, is_json)
            validator = offered.tools[name].validator if problem is None else None
            if self.settings.validate_arguments and validator is not None:
                problem = _schema_problem(validator, value)
                if problem is not None:
                    problem = f"the arguments of {name!r} do not match its schema: {problem}"
        if problem is not None:
            return ToolVerdict(index, call_id, name, text, "rejected", problem)
        if name in self._approve:
            return ToolVerdict(index, call_id, name, text, "held", "needs approval")
        return ToolVerdict(index, call_id, name, text, "allowed")

    def _tool_problem(self, index: int, name: str, offered: OfferedTools) -> str | None:
        if not name:
            return f"tool call {index} names no tool"
        if self._allow is not None and name not in self._allow:
            allowed = ", ".join(sorted(self._allow)) or "none"
            return f"tool {name!r} is not in the use case's allow-list ({allowed})"
        if name not in offered:
            listed = ", ".join(offered.names()) or "none"
            return f"tool {name!r} was not offered in the request's tools ({listed})"
        return None

    def _hold(
        self,
        verdict: ToolVerdict,
        trace_id: str | None,
        use_case: str | None,
        key_name: str | None,
    ) -> ToolVerdict:
        assert self.approvals is not None
        approval = self.approvals.hold(
            verdict.tool,
            verdict.arguments,
            call_id=verdict.call_id,
            trace_id=trace_id,
            use_case=use_case,
            key_name=key_name,
        )
        reason = f"tool {verdict.tool!r} needs a person's approval (approval {approval.id})"
        return ToolVerdict(
            verdict.index,
            verdict.call_id,
            verdict.tool,
            verdict.arguments,
            "held",
            reason,
            approval.id,
        )


def _read_call(call: object) -> tuple[str | None, str, object, bool]:
    """A call's id, tool name, arguments and whether they are JSON (a custom tool's input
    is free text), tolerating what a provider left out."""
    if not isinstance(call, Mapping):
        return None, "", None, True
    call_id = None if call.get("id") is None else str(call["id"])
    kind = call.get("type") or "function"
    spec = call.get(kind) if isinstance(kind, str) else None
    if not isinstance(spec, Mapping):
        return call_id, "", None, True
    raw_name = spec.get("name")
    name = raw_name if isinstance(raw_name, str) else ""
    if kind == "function":
        return call_id, name, spec.get("arguments"), True
    return call_id, name, str(spec.get("input", "")), False


def _parse_arguments(name: str, arguments: object, is_json: bool) -> tuple[Any, str | None]:
    """The arguments as a value, or why they are not JSON."""
    if not is_json or isinstance(arguments, (Mapping, list)):
        return arguments, None  # free text of a custom tool, or already parsed by a provider
    if not isinstance(arguments, str):
        return None, f"the arguments of {name!r} are missing"
    if not arguments.strip():
        return None, f"the arguments of {name!r} are empty, not a JSON object"
    try:
        return json.loads(arguments), None
    except ValueError as exc:
        return None, f"the arguments of {name!r} are not valid JSON: {exc}"


def _text(arguments: object) -> str:
    if isinstance(arguments, str):
        return arguments
    return "" if arguments is None else json.dumps(arguments, ensure_ascii=False)


def _schema_problem(validator: Validator, value: Any) -> str | None:
    """The schema's complaints about a value, most relevant first; None when it passes."""
    try:
        errors = [best_match([error]) for error in validator.iter_errors(value)]
    except Unresolvable as exc:  # a #-reference into nothing, only found when followed
        return f"the schema's reference {exc.ref!r} does not resolve"
    if not errors:
        return None
    errors.sort(key=lambda error: [(isinstance(part, str), part) for part in error.absolute_path])
    shown = "; ".join(_error(error) for error in errors[:MAX_ERRORS])
    more = len(errors) - MAX_ERRORS
    return shown + (f" (and {more} more)" if more > 0 else "")


def _error(error: ValidationError) -> str:
    return f"{_path('arguments', error.absolute_path)}: {_short(error.message)}"


def _path(root: str, parts: Sequence[str | int]) -> str:
    """``arguments.city``, ``arguments.stops[2].name``, ``arguments["a key"]``."""
    text = root
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


# -- approvals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovalInfo:
    id: int
    tool: str
    arguments: str
    status: str
    """``pending``, ``approved`` or ``rejected``."""
    call_id: str | None
    trace_id: str | None
    use_case: str | None
    key_name: str | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "arguments": self.arguments,
            "status": self.status,
            "call_id": self.call_id,
            "trace_id": self.trace_id,
            "use_case": self.use_case,
            "key_name": self.key_name,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decided_by": self.decided_by,
        }


def _approval(row: ToolApproval) -> ApprovalInfo:
    return ApprovalInfo(
        id=row.id,
        tool=row.tool,
        arguments=row.arguments,
        status=row.status,
        call_id=row.call_id,
        trace_id=row.trace_id,
        use_case=row.use_case,
        key_name=row.key_name,
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
    )


class ToolApprovals:
    """Tool calls held for a person: recorded as pending, then approved or rejected once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def hold(
        self,
        tool: str,
        arguments: str,
        *,
        call_id: str | None = None,
        trace_id: str | None = None,
        use_case: str | None = None,
        key_name: str | None = None,
    ) -> ApprovalInfo:
        row = ToolApproval(
            tool=tool,
            arguments=arguments,
            status="pending",
            call_id=call_id,
            trace_id=trace_id,
            use_case=use_case,
            key_name=key_name,
        )
        with self.db.write() as session:
            session.add(row)
            session.flush()
            return _approval(row)

    def get(self, approval_id: int) -> ApprovalInfo:
        with self.db.read() as session:
            row = session.get(ToolApproval, approval_id)
            if row is None:
                raise _not_found(approval_id)
            return _approval(row)

    def list(self, status: str | None = None, *, limit: int | None = None) -> list[ApprovalInfo]:
        """Held calls, oldest first; only those of one status when given."""
        query = select(ToolApproval).order_by(ToolApproval.id)
        if status is not None:
            if status not in APPROVAL_STATUSES:
                raise LeitstandError(
                    f"status {status!r} is not known; use one of {', '.join(APPROVAL_STATUSES)}"
                )
            query = query.where(ToolApproval.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as session:
            return [_approval(row) for row in session.scalars(query)]

    def decide(self, approval_id: int, approved: bool, by: str) -> ApprovalInfo:
        """Approve or reject a pending call; a decided one cannot be decided again."""
        if not by.strip():
            raise LeitstandError("a decision needs the name of who made it", hint="--by NAME")
        status = "approved" if approved else "rejected"
        with self.db.write() as session:
            # Only a pending row changes, so two people deciding at once cannot both win.
            result = session.execute(
                update(ToolApproval)
                .where(ToolApproval.id == approval_id, ToolApproval.status == "pending")
                .values(status=status, decided_at=utcnow(), decided_by=by)
                .execution_options(synchronize_session=False)
            )
            changed = cast("CursorResult[Any]", result).rowcount
            row = session.get(ToolApproval, approval_id, populate_existing=True)
            if row is None:
                raise _not_found(approval_id)
            if not changed:
                when = row.decided_at.strftime("%Y-%m-%d %H:%M UTC") if row.decided_at else ""
                raise LeitstandError(
                    f"approval {approval_id} was already {row.status} by {row.decided_by} {when}"
                )
            return _approval(row)


def _not_found(approval_id: int) -> NotFoundError:
    return NotFoundError(
        f"no tool approval with id {approval_id}",
        hint="`leitstand approvals list` shows the held calls",
    )
