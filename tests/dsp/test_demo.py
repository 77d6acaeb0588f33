"""The simulation demo's command line: levels are checked, settings reach the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dsp_c import demo
from dsp_c.demo.sweep import in_parallel


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


@pytest.mark.parametrize("value", ["-1", "nan", "soon"])
def test_a_bad_long_run_time_is_named(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        demo.main(["--long-seconds", value])
    assert exc.value.code == 2
    assert "--long-seconds" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "nan", "a while"])
def test_a_bad_hours_value_is_named(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        demo.main(["--hours", value])
    assert exc.value.code == 2
    assert "--hours" in capsys.readouterr().err


def test_a_missed_level_bar_is_run_again_for_longer(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # Engine hum at 32 samples of latency cannot reach 30 dB in 1 s: the bar is missed, so
    # the cell runs again for 3 s and the report judges the bar on that run too. Still
    # missed there, it runs for 0.05 h (three one-minute chunks), judged once more.
    assert demo.main(["--out", str(tmp_path), "--seconds", "1", "--long-seconds", "3",
                      "--hours", "0.05", "--latencies", "32", "--scenes", "engine",
                      "--no-hybrid"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [b["passed"] for b in results["level_bars"]] == [False]
    long = results["long_runs"]
    assert long["seconds"] == 3.0
    assert [(r["scene"], r["latency"]) for r in long["runs"]] == [("engine", 32)]
    (bar,) = long["level_bars"]
    assert bar["minimum_db"] == 30.0 and bar["attenuation_db"] == long["runs"][0]["attenuation_db"]
    assert (tmp_path / "long_runs.png").stat().st_size > 0
    page = (tmp_path / "index.html").read_text()
    assert "run again for 3 s" in page
    hours = results["hours_runs"]
    (run,) = hours["runs"]
    assert (run["scene"], run["latency"], run["seconds"]) == ("engine", 32, 180.0)
    assert run["minutes"] == [1.0, 2.0, 3.0] and len(run["att_db"]) == 3
    assert run["att_db"][2] > bar["attenuation_db"]  # three minutes beat three seconds
    (hours_bar,) = hours["level_bars"]
    assert hours_bar["attenuation_db"] == run["attenuation_db"] and not hours_bar["passed"]
    assert (tmp_path / "hours_runs.png").stat().st_size > 0
    assert "run for 0.05 h: engine &gt;= 30 dB at D=32" in page
    assert "bar after 0.05 h: engine >= 30 dB at D=32" in capsys.readouterr().out


def test_a_cell_short_of_its_bound_is_run_again_and_judged_on_that_run(tmp_path: Path) -> None:
    # Pink noise has no level bar, but in 1 s FxNLMS is more than 1.5 dB short of the bound:
    # the cell runs again, and the page and results.json judge its gap on that run too.
    assert demo.main(["--out", str(tmp_path), "--seconds", "1", "--long-seconds", "3",
                      "--latencies", "2", "--scenes", "pink", "--no-hybrid"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    (cell,) = results["runs"]
    assert not cell["passed"]
    long = results["long_runs"]
    (rerun,) = long["runs"]
    assert (rerun["scene"], rerun["latency"]) == ("pink", 2)
    assert long["level_bars"] == []  # its level bar (none) was not missed
    assert long["cells_passed"] == int(rerun["passed"])
    assert long["cells_passed_given_time"] == int(rerun["passed"])
    assert rerun["gap_db"] < cell["gap_db"]  # three times as long to converge
    assert "after 3 s:" in (tmp_path / "index.html").read_text()
    assert (tmp_path / "gaps_given_time.png").stat().st_size > 0
    assert not (tmp_path / "long_runs.png").exists()  # only for missed level bars


def _summary(scene: str, latency: int, attenuation: float, bound: float) -> demo.RunSummary:
    return demo.RunSummary(scene, latency, attenuation, bound, {}, {}, 1.0, 0, bound, 0.0, 0.0,
                           [], [])


def test_only_cells_that_missed_a_bar_are_run_again() -> None:
    cfg = demo.Settings(1.0, demo.MU, demo.TAPS, demo.BLOCK, demo.EAR_NOISE_DB,
                        demo.REF_NOISE_DB, (1, 8), ("engine", "pink"), 0, hybrid=False)
    runs = [_summary("engine", 1, 40.0, 40.5),   # within the gap and above 30 dB
            _summary("engine", 8, 28.0, 28.5),   # within the gap, below the 30 dB level bar
            _summary("pink", 1, 30.0, 35.0),     # 5 dB short of its bound
            _summary("pink", 8, 15.0, 15.5)]     # within the gap, no level bar
    assert [(r.scene, r.latency) for r in demo.missed_cells(runs, cfg)] == [
        ("engine", 8), ("pink", 1)]
    # judged given time: a long run within the gap counts, one still short does not
    assert demo.passed_given_time(runs, [_summary("pink", 1, 34.0, 35.0)]) == runs
    assert demo.passed_given_time(runs, [_summary("pink", 1, 31.0, 35.0)]) == [
        runs[0], runs[1], runs[3]]


def test_parallel_runs_return_every_result_under_its_index() -> None:
    items = [float(v) for v in range(7)]
    got = dict(in_parallel(abs, [-v for v in items]))
    assert got == dict(enumerate(items))


def test_no_long_run_when_turned_off(tmp_path: Path) -> None:
    assert demo.main(["--out", str(tmp_path), "--seconds", "1", "--long-seconds", "0",
                      "--hours", "0", "--latencies", "32", "--scenes", "engine",
                      "--no-hybrid"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["long_runs"]["runs"] == [] and results["hours_runs"]["runs"] == []
    assert not (tmp_path / "long_runs.png").exists()
    assert not (tmp_path / "gaps_given_time.png").exists()
    assert not (tmp_path / "hours_runs.png").exists()
