"""The IoT SQL subset of the rule runner (pure unit tests)."""

from __future__ import annotations

import pytest

from cloud.local.rules.sql import RuleMessage, RuleSqlError, parse


def message(payload: object, topic: str = "anc/v1/hs-1/telemetry") -> RuleMessage:
    return RuleMessage(topic=topic, payload=payload, client_id="hs-1", timestamp_ms=1234)


def test_select_star_with_rule_fields() -> None:
    query = parse("SELECT *, topic(3) AS thing, timestamp() AS received_at "
                  "FROM 'anc/v1/+/telemetry'")
    assert query.topic_filter == "anc/v1/+/telemetry"
    assert query.evaluate(message({"seq": 1})) == {"seq": 1, "thing": "hs-1", "received_at": 1234}


def test_fields_paths_aliases_functions_and_literals() -> None:
    query = parse("SELECT seq, battery.percent, battery.mv AS millivolts, clientid() AS who, "
                  "topic() AS t, 'x' AS tag, 2 AS two, 1.5 AS half, true AS yes FROM 'a/#'")
    result = query.evaluate(message({"seq": 4, "battery": {"percent": 9, "mv": 3500}}))
    assert result == {"seq": 4, "percent": 9, "millivolts": 3500, "who": "hs-1",
                      "t": "anc/v1/hs-1/telemetry", "tag": "x", "two": 2, "half": 1.5,
                      "yes": True}


def test_missing_fields_are_left_out() -> None:
    query = parse("SELECT seq, nope.deeper AS n, topic(9) AS level FROM 'a'")
    assert query.evaluate(message({"seq": 1})) == {"seq": 1}


@pytest.mark.parametrize(("where", "expected"), [
    ("battery.percent < 20", True),
    ("battery.percent >= 20", False),
    ("mode = 'anc' AND battery.percent <= 10", True),
    ("mode = 'off' OR worn = false", True),
    ("mode <> 'anc'", False),
    ("mode != 'off'", True),
    ("NOT mode = 'anc'", False),
    ("(mode = 'off' OR seq > 3) AND topic(3) = 'hs-1'", True),
    ("missing = 1", False),
    ("NOT missing = 1", True),
    ("mode > 3", False),  # string vs number: undefined, so false
    ("clientid() = 'hs-1'", True),
])
def test_where(where: str, expected: bool) -> None:
    query = parse(f"SELECT * FROM 'anc/v1/+/telemetry' WHERE {where}")
    doc = {"seq": 5, "mode": "anc", "worn": False, "battery": {"percent": 9}}
    assert (query.evaluate(message(doc)) is not None) is expected


@pytest.mark.parametrize(("sql", "named"), [
    ("SELECT get_thing_shadow('x', 'y') AS s FROM 'a'", "get_thing_shadow()"),
    ("SELECT * FROM 'a' WHERE seq + 1 > 2", "'+'"),
    ("SELECT a FROM 'a' GROUP BY a", "keyword 'GROUP'"),
    ("SELECT a FROM 'a' ORDER_X", "construct 'ORDER_X' after the statement"),
    ("SELECT CASE a WHEN 1 THEN 2 END AS c FROM 'a'", "keyword 'CASE'"),
    ("SELECT * FROM a", "quoted topic filter"),
    ("SELECT * FROM 'a' WHERE seq", "comparison"),
    ("SELECT 1 FROM 'a'", "needs an alias"),
    ("SELECT *", "end of the statement"),
    ("", "no SQL statement"),
    ("SELECT * FROM 'a' WHERE a IN (1, 2)", "keyword 'IN'"),
])
def test_unsupported_sql_is_rejected_naming_the_construct(sql: str, named: str) -> None:
    with pytest.raises(RuleSqlError, match=named.replace("(", r"\(").replace(")", r"\)")
                       .replace("+", r"\+")):
        parse(sql)


def test_select_star_needs_an_object() -> None:
    with pytest.raises(RuleSqlError, match="JSON object"):
        parse("SELECT * FROM 'a'").evaluate(message([1, 2]))
