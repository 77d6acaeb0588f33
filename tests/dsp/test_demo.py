"""The simulation demo's command line: levels are checked, settings reach the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsp_c import demo


@pytest.mark.parametrize("value", ["loud", "nan", "inf"])
def test_a_bad_microphone_noise_level_is_named(value: str, capsys: pytest.CaptureFixture[str]
                                               ) -> None:
    with pytest.raises(SystemExit) as exc:
        demo.main(["--ref-noise-db", value])
    assert exc.value.code == 2
    assert "--ref-noise-db" in capsys.readouterr().err


@pytest.mark.parametrize(("arg", "expected"), [("none", None), ("-50", -50.0)])
def test_the_microphone_noise_level_reaches_the_report(arg: str, expected: float | None,
                                                       tmp_path: Path) -> None:
    assert demo.main(["--out", str(tmp_path), "--seconds", "1", "--latencies", "2",
                      "--scenes", "pink", "--no-hybrid", "--ref-noise-db", arg]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["settings"]["ref_noise_db"] == expected
    page = (tmp_path / "index.html").read_text()
    assert ("noiseless" in page) == (expected is None)
