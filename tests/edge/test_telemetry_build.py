"""Telemetry documents: schema-valid, clamped where the schema bounds them, bad input refused."""

from __future__ import annotations

import pytest

from edge_agent.telemetry import TelemetrySample, build_telemetry
from protocol import schemas


def test_full_sample_gives_a_valid_document() -> None:
    sample = TelemetrySample(
        mode="anc", interval_s=1.0, algorithm="fxnlms", attenuation_db={"broadband": 17.456},
        noise_level_dbfs=-31.0, battery_percent=80, battery_mv=3900, charging=False,
        worn=True, block_time_us={"mean": 40.0, "p50": 38.0, "p99": 61.2, "p999": 90.0,
                                  "max": 120.0, "budget": 666.7},
        deadline_misses=0, filter_resets=1, dropped=0, filter_version=2)
    doc = build_telemetry(sample, now=1764064800.0)
    assert schemas.errors("telemetry", {**doc, "seq": 1}) == []
    assert doc["attenuation_db"] == {"broadband": 17.46} and doc["ts"] == 1764064800.0
    assert doc["battery"] == {"percent": 80, "mv": 3900, "charging": False}
    # Only the block-time statistics the schema declares are sent.
    declared = set(schemas.load("telemetry")["properties"]["block_time_us"]["properties"])
    assert set(doc["block_time_us"]) == declared & {"mean", "p50", "p99", "p999", "max",
                                                    "budget"}
    assert "seq" not in doc


def test_out_of_range_levels_are_clamped_to_the_schema() -> None:
    doc = build_telemetry(TelemetrySample(mode="off", interval_s=1.0,
                                          attenuation_db={"broadband": -200.0},
                                          noise_level_dbfs=3.0), now=1764064800.0)
    assert doc["attenuation_db"]["broadband"] == -60.0 and doc["noise_level_dbfs"] == 0.0


@pytest.mark.parametrize(("sample", "message"), [
    (TelemetrySample(mode="loud", interval_s=1.0), "mode: 'loud' is not one of"),
    (TelemetrySample(mode="anc", interval_s=0.0), "interval_s"),
    (TelemetrySample(mode="anc", interval_s=1.0, battery_percent=130), "battery/percent"),
    (TelemetrySample(mode="anc", interval_s=1.0, deadline_misses=-1), "deadline_misses"),
])
def test_invalid_samples_are_refused(sample: TelemetrySample, message: str) -> None:
    with pytest.raises(ValueError, match="telemetry document is invalid") as info:
        build_telemetry(sample, now=1764064800.0)
    assert message in str(info.value)
