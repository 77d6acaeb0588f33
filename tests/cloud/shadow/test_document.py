"""The pure shadow rules, case by case from the AWS Device Shadow documentation."""

from __future__ import annotations

import json

import pytest

from cloud.local.shadow import document, errors
from cloud.local.shadow.document import ShadowRecord, apply_update, parse_update
from cloud.local.shadow.errors import ShadowError

T0, T1 = 1_700_000_000, 1_700_000_100


def request(doc: object) -> bytes:
    return json.dumps(doc).encode()


def update(current: ShadowRecord | None, doc: object, now: int = T0,
           retained: int = 0) -> document.UpdateOutcome:
    return apply_update(current, parse_update(request(doc)), now, retained)


def rejected(payload: bytes) -> ShadowError:
    with pytest.raises(ShadowError) as info:
        parse_update(payload)
    return info.value


# --- creating and merging --------------------------------------------------------------

def test_first_update_creates_version_1_with_per_field_metadata() -> None:
    out = update(None, {"state": {"desired": {"color": "RED", "seq": ["RED", "GREEN"]}},
                        "clientToken": "tok-1"})
    assert out.record.version == 1
    assert out.record.state == {"desired": {"color": "RED", "seq": ["RED", "GREEN"]}}
    assert out.record.metadata == {"desired": {"color": {"timestamp": T0},
                                               "seq": {"timestamp": T0}}}
    assert out.accepted == {
        "state": {"desired": {"color": "RED", "seq": ["RED", "GREEN"]}},
        "metadata": {"desired": {"color": {"timestamp": T0}, "seq": {"timestamp": T0}}},
        "version": 1, "timestamp": T0, "clientToken": "tok-1"}


def test_update_touches_only_named_fields_and_nested_objects_merge() -> None:
    first = update(None, {"state": {"reported": {"color": {"r": 1, "g": 2}, "engine": "ON"}}})
    out = update(first.record, {"state": {"reported": {"color": {"r": 10}}}}, now=T1)
    assert out.record.state == {"reported": {"color": {"r": 10, "g": 2}, "engine": "ON"}}
    assert out.record.metadata == {"reported": {
        "color": {"r": {"timestamp": T1}, "g": {"timestamp": T0}}, "engine": {"timestamp": T0}}}
    assert out.record.version == 2
    # /accepted carries only what the request touched.
    assert out.accepted["state"] == {"reported": {"color": {"r": 10}}}
    assert out.accepted["metadata"] == {"reported": {"color": {"r": {"timestamp": T1}}}}


def test_arrays_are_replaced_whole() -> None:
    first = update(None, {"state": {"desired": {"colors": ["RED", "GREEN", "BLUE"]}}})
    out = update(first.record, {"state": {"desired": {"colors": ["RED"]}}})
    assert out.record.state["desired"]["colors"] == ["RED"]


def test_null_deletes_a_field_and_emptied_objects_disappear() -> None:
    first = update(None, {"state": {"desired": {"engine": "ON", "color": {"r": 1}}}})
    out = update(first.record, {"state": {"desired": {"engine": None, "color": {"r": None}}}})
    assert out.record.state == {}
    assert out.record.metadata == {}
    assert out.record.version == 2
    assert out.accepted["state"] == {"desired": {"engine": None, "color": {"r": None}}}


def test_null_section_removes_the_section() -> None:
    first = update(None, {"state": {"desired": {"a": 1}, "reported": {"a": 0}}})
    out = update(first.record, {"state": {"reported": {"a": 1}, "desired": None}})
    assert out.record.state == {"reported": {"a": 1}}
    assert set(out.record.metadata) == {"reported"}


def test_null_state_empties_the_shadow_but_keeps_it() -> None:
    first = update(None, {"state": {"desired": {"a": 1}, "reported": {"b": 2}}})
    out = update(first.record, {"state": None})
    assert out.record == ShadowRecord({}, {}, 2)
    assert out.accepted["state"] is None


def test_scalar_replaced_by_object_and_back() -> None:
    first = update(None, {"state": {"reported": {"x": 5}}})
    second = update(first.record, {"state": {"reported": {"x": {"y": 1}}}})
    assert second.record.state == {"reported": {"x": {"y": 1}}}
    assert second.record.metadata == {"reported": {"x": {"y": {"timestamp": T0}}}}
    third = update(second.record, {"state": {"reported": {"x": [1, 2]}}})
    assert third.record.metadata == {"reported": {"x": {"timestamp": T0}}}


def test_current_record_is_not_mutated() -> None:
    first = update(None, {"state": {"desired": {"a": {"b": 1}}}})
    before = json.dumps([first.record.state, first.record.metadata])
    update(first.record, {"state": {"desired": {"a": {"b": 2, "c": 3}}}})
    assert json.dumps([first.record.state, first.record.metadata]) == before


# --- versions -----------------------------------------------------------------------------

def test_matching_version_is_accepted_and_stale_version_is_a_409() -> None:
    rec = update(None, {"state": {"desired": {"colors": ["RED"]}}}).record
    for _ in range(9):
        rec = update(rec, {"state": {"desired": {"n": 1}}}).record
    assert rec.version == 10
    with pytest.raises(ShadowError) as info:
        update(rec, {"state": {"desired": {"colors": ["BLUE"]}}, "version": 9,
                     "clientToken": "426bfd96"})
    assert (info.value.code, info.value.message) == (409, errors.VERSION_CONFLICT)
    assert info.value.payload(T0)["clientToken"] == "426bfd96"
    ok = update(rec, {"state": {"desired": {"colors": ["BLUE"]}}, "version": 10})
    assert ok.record.version == 11


def test_every_accepted_update_increments_version_even_without_change() -> None:
    rec = update(None, {"state": {"reported": {"a": 1}}}).record
    again = update(rec, {"state": {"reported": {"a": 1}}})
    assert again.record.version == 2


def test_recreated_shadow_continues_the_retained_version() -> None:
    out = update(None, {"state": {"reported": {"a": 1}}}, retained=7)
    assert out.record.version == 8
    with pytest.raises(ShadowError) as info:
        update(None, {"state": {"reported": {"a": 1}}, "version": 0}, retained=7)
    assert info.value.code == 409


# --- delta ----------------------------------------------------------------------------------

def test_delta_lists_desired_fields_missing_or_different_in_reported() -> None:
    rec = update(None, {"state": {"reported": {"color": "GREEN", "power": "on", "extra": 1}}}
                 ).record
    out = update(rec, {"state": {"desired": {"color": "RED", "power": "on", "fan": 3}},
                       "clientToken": "c1"}, now=T1)
    assert out.delta == {
        "version": 2, "timestamp": T1,
        "state": {"color": "RED", "fan": 3},
        "metadata": {"color": {"timestamp": T1}, "fan": {"timestamp": T1}},
        "clientToken": "c1"}


def test_delta_recurses_into_objects_and_compares_arrays_whole() -> None:
    desired = {"led": {"r": 1, "g": 2}, "seq": [1, 2, 3], "flag": True, "n": 1}
    reported = {"led": {"r": 1, "g": 0}, "seq": [1, 2], "flag": 1, "n": 1.0}
    assert document.delta(desired, reported) == {"led": {"g": 2}, "seq": [1, 2, 3],
                                                 "flag": True}


def test_delta_includes_field_deleted_from_reported() -> None:
    rec = update(None, {"state": {"desired": {"a": 1}, "reported": {"a": 1}}}).record
    assert document.shadow_delta(rec) == {}
    rec = update(rec, {"state": {"reported": {"a": None}}}).record
    assert document.shadow_delta(rec) == {"a": 1}


def test_no_delta_message_when_desired_matches_or_only_reported_changes() -> None:
    rec = update(None, {"state": {"reported": {"a": 1}}}).record
    assert update(rec, {"state": {"desired": {"a": 1}}}).delta is None
    rec = update(rec, {"state": {"desired": {"a": 2, "b": 1}}}).record
    # A device reporting part of the change does not re-send the delta.
    assert update(rec, {"state": {"reported": {"a": 2}}}).delta is None


def test_delta_metadata_follows_nested_fields() -> None:
    rec = update(None, {"state": {"reported": {"led": {"r": 1, "g": 0}}}}).record
    out = update(rec, {"state": {"desired": {"led": {"r": 1, "g": 2}}}}, now=T1)
    assert out.delta is not None
    assert out.delta["state"] == {"led": {"g": 2}}
    assert out.delta["metadata"] == {"led": {"g": {"timestamp": T1}}}


# --- documents / get / delete ----------------------------------------------------------

def test_documents_carry_previous_and_current() -> None:
    first = update(None, {"state": {"reported": {"a": 1}}}, now=T0)
    assert "previous" not in first.documents
    assert first.documents["current"]["version"] == 1
    second = update(first.record, {"state": {"reported": {"a": 2}}, "clientToken": "t"}, now=T1)
    assert second.documents == {
        "previous": {"state": {"reported": {"a": 1}},
                     "metadata": {"reported": {"a": {"timestamp": T0}}}, "version": 1},
        "current": {"state": {"reported": {"a": 2}},
                    "metadata": {"reported": {"a": {"timestamp": T1}}}, "version": 2},
        "timestamp": T1, "clientToken": "t"}


def test_get_response_has_delta_only_when_states_differ() -> None:
    rec = update(None, {"state": {"desired": {"a": 1}, "reported": {"a": 0}}}).record
    doc = document.get_response(rec, T1, "g1")
    assert doc["state"] == {"desired": {"a": 1}, "reported": {"a": 0}, "delta": {"a": 1}}
    assert doc["version"] == 1 and doc["timestamp"] == T1 and doc["clientToken"] == "g1"
    same = update(rec, {"state": {"reported": {"a": 1}}}).record
    assert "delta" not in document.get_response(same, T1, None)["state"]
    assert "clientToken" not in document.get_response(same, T1, None)


def test_delete_response_is_abbreviated() -> None:
    rec = update(None, {"state": {"reported": {"a": 1}}}).record
    assert document.delete_response(rec, T1, None) == {"version": 1, "timestamp": T1}


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize(("payload", "code", "message"), [
    (b"{not json", 400, errors.INVALID_JSON),
    (b"[1, 2]", 400, errors.INVALID_JSON),
    (b'{"state": {"desired": {"a": NaN}}}', 400, errors.INVALID_JSON),
    (b"\xff\xfe{}", 415, errors.UNSUPPORTED_ENCODING),
    (b'{"desired": {"a": 1}}', 400, errors.MISSING_STATE),
    (b'{"state": 5}', 400, errors.STATE_NOT_OBJECT),
    (b'{"state": {"desired": [1]}}', 400, errors.DESIRED_NOT_OBJECT),
    (b'{"state": {"reported": "x"}}', 400, errors.REPORTED_NOT_OBJECT),
    (b'{"state": {"delta": {"a": 1}}}', 400, errors.INVALID_NODE),
    (b'{"state": {"desired": {"colors": [null, "RED"]}}}', 400, errors.INVALID_NODE),
    (b'{"state": {}, "version": "3"}', 400, errors.INVALID_VERSION),
    (b'{"state": {}, "version": true}', 400, errors.INVALID_VERSION),
    (b'{"state": {}, "version": -1}', 400, errors.INVALID_VERSION),
    (b'{"state": {}, "clientToken": 12}', 400, errors.INVALID_CLIENT_TOKEN),
])
def test_malformed_requests_get_the_documented_error(payload: bytes, code: int,
                                                     message: str) -> None:
    err = rejected(payload)
    assert (err.code, err.message) == (code, message)
    assert err.text.startswith(message)


def test_error_payload_shape_and_token_echo() -> None:
    err = rejected(b'{"state": 5, "clientToken": "abc"}')
    assert err.payload(T0) == {"code": 400, "message": errors.STATE_NOT_OBJECT,
                               "timestamp": T0, "clientToken": "abc"}
    # A token that is itself invalid is not echoed.
    assert "clientToken" not in rejected(
        request({"state": {}, "clientToken": "x" * 65})).payload(T0)


def test_client_token_limit_is_64_bytes_not_characters() -> None:
    assert parse_update(request({"state": {}, "clientToken": "x" * 64})).client_token
    err = rejected(request({"state": {}, "clientToken": "é" * 33}))  # 66 bytes
    assert err.message == errors.INVALID_CLIENT_TOKEN


def nested(levels: int) -> dict:
    value: object = 1
    for i in range(levels):
        value = {f"l{levels - i}": value}
    assert isinstance(value, dict)
    return value


def test_six_levels_of_nesting_are_allowed_seven_are_not() -> None:
    parse_update(request({"state": {"reported": nested(6)}}))
    err = rejected(request({"state": {"reported": nested(7)}}))
    assert (err.code, err.message) == (400, errors.TOO_DEEP)
    for levels in (600, 5000):  # below and above the JSON parser's own recursion limit
        deep = b'{"state": {"desired": ' + b'{"a": ' * levels + b"1" + b"}" * levels + b"}}"
        assert rejected(deep).message == errors.TOO_DEEP


def test_state_over_8kb_is_a_413_and_metadata_does_not_count() -> None:
    rec = update(None, {"state": {"reported": {"blob": "x" * 4000}}}).record
    out = update(rec, {"state": {"desired": {"blob": "y" * 4000}}})
    assert document.state_size(out.record.state) <= document.MAX_STATE_BYTES
    with pytest.raises(ShadowError) as info:
        update(out.record, {"state": {"desired": {"more": "z" * 300}}, "clientToken": "big"})
    assert (info.value.code, info.value.message) == (413, errors.PAYLOAD_TOO_LARGE)
    assert info.value.client_token == "big"


def test_huge_request_is_refused_before_parsing() -> None:
    err = rejected(b'{"state": {"reported": {"a": "' + b"x" * 200_000 + b'"}}}')
    assert err.code == 413


def test_get_and_delete_bodies_may_be_empty_or_carry_a_token() -> None:
    assert document.parse_token_only(b"") is None
    assert document.parse_token_only(b'{"clientToken": "t"}') == "t"
    with pytest.raises(ShadowError) as info:
        document.parse_token_only(b"{oops")
    assert info.value.code == 400
