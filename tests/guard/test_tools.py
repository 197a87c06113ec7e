"""Tool calls: allow-list, offered tools, JSON arguments, schema errors with a path, held calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leitstand.config.settings import ToolSettings
from leitstand.errors import LeitstandError, NotFoundError
from leitstand.guard.tools import (
    InvalidToolsError,
    ToolApprovals,
    ToolCallGuard,
    offered_tools,
)
from leitstand.store.database import Database

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "stops": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                },
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
NOW = {"type": "function", "function": {"name": "now"}}
SEND_MAIL = {
    "type": "function",
    "function": {
        "name": "send_mail",
        "parameters": {
            "type": "object",
            "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
            "required": ["to", "body"],
        },
    },
}
TOOLS = [WEATHER, NOW, SEND_MAIL]


def call(name: str, arguments: Any = "{}", call_id: str = "call_1") -> dict[str, Any]:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def check(calls: list[dict[str, Any]], tools: Any = TOOLS, **settings: Any) -> list[Any]:
    return ToolCallGuard(ToolSettings(**settings)).check(tools, calls)


@pytest.mark.unit
class TestVerdicts:
    def test_valid_calls_of_offered_tools_pass(self) -> None:
        verdicts = check(
            [call("weather", {"city": "Berlin", "days": 3}, "c1"), call("now", "{}", "c2")]
        )
        assert [(v.call_id, v.tool, v.status) for v in verdicts] == [
            ("c1", "weather", "allowed"),
            ("c2", "now", "allowed"),
        ]
        assert all(v.allowed and v.reason is None for v in verdicts)

    def test_a_tool_outside_the_allow_list_is_rejected_and_the_list_named(self) -> None:
        (verdict,) = check([call("send_mail", {"to": "a", "body": "b"})], allow=["weather"])
        assert verdict.status == "rejected"
        assert verdict.reason == "tool 'send_mail' is not in the use case's allow-list (weather)"

    def test_an_empty_allow_list_allows_nothing_but_none_allows_all_offered(self) -> None:
        assert check([call("now")], allow=[])[0].status == "rejected"
        assert check([call("now")], allow=None)[0].status == "allowed"

    def test_a_tool_the_request_did_not_offer_is_rejected(self) -> None:
        (verdict,) = check([call("delete_db")], tools=[WEATHER, NOW])
        assert (
            verdict.reason
            == "tool 'delete_db' was not offered in the request's tools (weather, now)"
        )
        (verdict,) = check([call("now")], tools=None)
        assert verdict.reason == "tool 'now' was not offered in the request's tools (none)"

    def test_arguments_that_are_not_json_are_rejected_with_the_parser_message(self) -> None:
        (verdict,) = check([call("weather", '{"city": "Berlin"')])
        assert verdict.status == "rejected"
        assert verdict.reason is not None
        assert verdict.reason.startswith("the arguments of 'weather' are not valid JSON: ")
        assert "line 1 column" in verdict.reason
        assert verdict.arguments == '{"city": "Berlin"'
        (empty,) = check([call("now", "")])
        assert empty.reason == "the arguments of 'now' are empty, not a JSON object"

    def test_a_schema_error_names_the_json_path_and_the_schema_message(self) -> None:
        (verdict,) = check([call("weather", {"city": 42})])
        assert verdict.reason == (
            "the arguments of 'weather' do not match its schema: "
            "arguments.city: 42 is not of type 'string'"
        )

    def test_nested_paths_required_and_extra_properties(self) -> None:
        arguments = {"city": "Berlin", "days": 30, "stops": [{"name": "A"}, {}], "unit": "C"}
        (verdict,) = check([call("weather", arguments)])
        assert verdict.reason == (
            "the arguments of 'weather' do not match its schema: "
            "arguments: Additional properties are not allowed ('unit' was unexpected); "
            "arguments.days: 30 is greater than the maximum of 14; "
            "arguments.stops[1]: 'name' is a required property"
        )
        (missing,) = check([call("weather", {})])
        assert missing.reason is not None
        assert missing.reason.endswith("arguments: 'city' is a required property")

    def test_many_errors_are_counted_not_all_listed(self) -> None:
        stops = [{}, {}, {}, {}, {}]
        (verdict,) = check([call("weather", {"city": "B", "stops": stops})])
        assert verdict.reason is not None
        assert verdict.reason.count("is a required property") == 3
        assert verdict.reason.endswith("(and 2 more)")

    def test_keys_that_are_not_identifiers_are_quoted_in_the_path(self) -> None:
        tool = {
            "type": "function",
            "function": {
                "name": "t",
                "parameters": {"properties": {"a key": {"type": "integer"}}},
            },
        }
        (verdict,) = check([call("t", {"a key": "x"})], tools=[tool])
        assert verdict.reason is not None
        assert verdict.reason.endswith("""arguments["a key"]: 'x' is not of type 'integer'""")

    def test_validate_arguments_off_checks_json_but_not_the_schema(self) -> None:
        assert check([call("weather", {"city": 42})], validate_arguments=False)[0].allowed
        assert not check([call("weather", "{")], validate_arguments=False)[0].allowed

    def test_the_schema_dialect_follows_dollar_schema(self) -> None:
        draft4 = {
            "type": "function",
            "function": {
                "name": "t",
                "parameters": {
                    "$schema": "http://json-schema.org/draft-04/schema#",
                    "properties": {"n": {"type": "number", "maximum": 5, "exclusiveMaximum": True}},
                },
            },
        }
        # Draft 4's boolean exclusiveMaximum: 5 itself is out (2020-12 would not accept the schema).
        assert check([call("t", {"n": 5})], tools=[draft4])[0].status == "rejected"
        assert check([call("t", {"n": 4})], tools=[draft4])[0].status == "allowed"

    def test_local_references_are_followed(self) -> None:
        tool = {
            "type": "function",
            "function": {
                "name": "t",
                "parameters": {
                    "$defs": {"point": {"type": "object", "required": ["x"]}},
                    "properties": {"at": {"$ref": "#/$defs/point"}},
                },
            },
        }
        (verdict,) = check([call("t", {"at": {}})], tools=[tool])
        assert verdict.reason is not None
        assert verdict.reason.endswith("arguments.at: 'x' is a required property")

    def test_calls_that_name_no_tool_are_rejected(self) -> None:
        verdicts = check([{"id": "x", "type": "function", "function": {}}, "junk"])
        assert [v.reason for v in verdicts] == [
            "tool call 0 names no tool",
            "tool call 1 names no tool",
        ]

    def test_arguments_already_parsed_by_a_provider_are_checked_too(self) -> None:
        calls = [{"id": "c", "type": "function", "function": {"name": "weather", "arguments": {}}}]
        assert check(calls)[0].status == "rejected"

    def test_as_dict_for_traces_and_responses(self) -> None:
        (verdict,) = check([call("weather", {"city": 1}, "c9")])
        assert verdict.as_dict() == {
            "index": 0,
            "id": "c9",
            "tool": "weather",
            "status": "rejected",
            "reason": verdict.reason,
        }


@pytest.mark.unit
class TestOfferedTools:
    def test_an_invalid_schema_is_the_clients_error_naming_the_tool(self) -> None:
        broken = {"type": "function", "function": {"name": "w", "parameters": {"type": "town"}}}
        with pytest.raises(InvalidToolsError) as caught:
            offered_tools([NOW, broken])
        assert caught.value.tool == "w"
        assert caught.value.param == "tools[1].function.parameters"
        assert "the parameters of tool 'w' are not a valid JSON schema: parameters.type" in str(
            caught.value
        )
        with pytest.raises(InvalidToolsError, match="tool 'w'"):
            ToolCallGuard(ToolSettings()).check([broken], [call("w")])

    def test_remote_references_are_refused_not_fetched(self) -> None:
        tool = {
            "type": "function",
            "function": {
                "name": "w",
                "parameters": {"properties": {"a": {"$ref": "http://169.254.169.254/x"}}},
            },
        }
        with pytest.raises(InvalidToolsError, match="only references within the schema"):
            offered_tools([tool])

    def test_malformed_tool_lists(self) -> None:
        with pytest.raises(InvalidToolsError, match="tools must be a list"):
            offered_tools({"name": "x"})
        with pytest.raises(InvalidToolsError, match=r"tools\[0\] has no name"):
            offered_tools([{"type": "function", "function": {}}])
        with pytest.raises(InvalidToolsError, match="offered twice"):
            offered_tools([NOW, NOW])
        with pytest.raises(InvalidToolsError, match="must be a JSON schema object"):
            offered_tools([{"type": "function", "function": {"name": "x", "parameters": []}}])

    def test_a_schema_is_compiled_once_for_all_requests(self) -> None:
        first = offered_tools(TOOLS).tools["weather"].validator
        again = offered_tools([json.loads(json.dumps(WEATHER))]).tools["weather"].validator
        assert first is not None and first is again
        assert offered_tools([NOW]).tools["now"].validator is None

    def test_a_custom_tool_is_allowed_by_name_without_a_schema(self) -> None:
        tools = [{"type": "custom", "custom": {"name": "grammar"}}]
        calls = [{"id": "c", "type": "custom", "custom": {"name": "grammar", "input": "x := 1"}}]
        (verdict,) = check(calls, tools=tools)
        assert verdict.allowed and verdict.arguments == "x := 1"


@pytest.fixture
def approvals(database_url: str) -> Any:
    db = Database(database_url)
    db.migrate()
    yield ToolApprovals(db)
    db.dispose()


@pytest.mark.integration
class TestHeldCalls:
    def test_a_listed_tool_is_held_and_recorded_as_pending(self, approvals: ToolApprovals) -> None:
        guard = ToolCallGuard(ToolSettings(allow=["weather"], approve=["send_mail"]), approvals)
        mail = {"to": "chef@example.org", "body": "Hallo"}
        verdicts = guard.check(
            TOOLS,
            [call("weather", {"city": "Bonn"}, "c1"), call("send_mail", mail, "c2")],
            trace_id="t" * 32,
            use_case="support",
            key_name="crm-bot",
        )
        assert [v.status for v in verdicts] == ["allowed", "held"]
        held = verdicts[1]
        assert held.approval_id is not None
        assert (
            held.reason
            == f"tool 'send_mail' needs a person's approval (approval {held.approval_id})"
        )
        row = approvals.get(held.approval_id)
        assert (row.tool, row.status, row.call_id) == ("send_mail", "pending", "c2")
        assert json.loads(row.arguments) == mail
        assert (row.trace_id, row.use_case, row.key_name) == ("t" * 32, "support", "crm-bot")
        assert [a.id for a in approvals.list("pending")] == [held.approval_id]

    def test_an_invalid_call_of_a_held_tool_is_rejected_not_held(
        self, approvals: ToolApprovals
    ) -> None:
        guard = ToolCallGuard(ToolSettings(approve=["send_mail"]), approvals)
        (verdict,) = guard.check(TOOLS, [call("send_mail", {"to": "x"})])
        assert verdict.status == "rejected" and verdict.approval_id is None
        assert approvals.list() == []

    def test_decide_once_and_only_once(self, approvals: ToolApprovals) -> None:
        first = approvals.hold("send_mail", "{}", call_id="c1")
        second = approvals.hold("send_mail", '{"to": "b"}')
        decided = approvals.decide(first.id, True, "alice")
        assert (decided.status, decided.decided_by) == ("approved", "alice")
        assert decided.decided_at is not None
        with pytest.raises(
            LeitstandError, match=f"approval {first.id} was already approved by alice"
        ):
            approvals.decide(first.id, False, "bob")
        assert approvals.decide(second.id, False, "bob").status == "rejected"
        assert [a.status for a in approvals.list()] == ["approved", "rejected"]
        assert approvals.list("pending") == []
        assert [a.id for a in approvals.list("rejected")] == [second.id]

    def test_unknown_ids_and_statuses(self, approvals: ToolApprovals) -> None:
        with pytest.raises(NotFoundError, match="no tool approval with id 99"):
            approvals.get(99)
        with pytest.raises(NotFoundError, match="no tool approval with id 99"):
            approvals.decide(99, True, "alice")
        with pytest.raises(LeitstandError, match="status 'done' is not known"):
            approvals.list("done")
        held = approvals.hold("send_mail", "{}")
        with pytest.raises(LeitstandError, match="needs the name"):
            approvals.decide(held.id, True, " ")


@pytest.mark.unit
def test_held_calls_need_a_store() -> None:
    with pytest.raises(ValueError, match="ToolApprovals"):
        ToolCallGuard(ToolSettings(approve=["send_mail"]))
