"""The card detail's meta-label lines: the confidence's model, its out-of-sample Brier skill with
the interval, the verdict ("no measured edge" and the base rate shown instead), reliability."""

from __future__ import annotations

from console.widgets.card_detail import TrackRecordSection
from tests.console.test_card_detail import DETAILS, Host, full_card, line_with, section, text_of

META = {
    "meta:model": 1.0,
    "meta:base_rate": 0.47,
    "meta:skill": 0.031,
    "meta:skill_lo": 0.006,
    "meta:skill_hi": 0.058,
    "meta:level": 0.9,
    "meta:n_test": 1127.0,
    "meta:rel0:lo": 0.4,
    "meta:rel0:pred": 0.44,
    "meta:rel0:obs": 0.41,
    "meta:rel0:n": 391.0,
    "meta:rel1:lo": 0.5,
    "meta:rel1:pred": 0.56,
    "meta:rel1:obs": 0.6,
    "meta:rel1:n": 583.0,
}


async def test_a_card_with_a_measured_edge_shows_its_skill_interval_and_reliability() -> None:
    app = Host(full_card(details={**DETAILS, **META, "meta:edge": 1.0}))
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        track = text_of(section(app, TrackRecordSection))
        model = line_with(track, "Confidence model")
        assert "logistic" in model
        assert "OOS Brier skill +0.031 [+0.006, +0.058]" in model
        assert "90% interval, 1,127 later trades" in model
        assert "measured edge: the confidence is the model's" in track
        assert "no measured edge" not in track
        # the score calibrator's Brier line is not the confidence's any more: not shown
        assert "Brier 0.231" not in track
        assert "Predicted" in line_with(track, "Predicted")
        assert line_with(track, "44%").split() == ["44%", "41%", "391"]
        assert line_with(track, "56%").split() == ["56%", "60%", "583"]


async def test_a_card_without_an_edge_says_so_and_names_the_base_rate() -> None:
    details = {
        **DETAILS,
        **META,
        "meta:edge": 0.0,
        "meta:model": 0.0,
        "meta:tested": 2.0,
        "meta:skill_lo": -0.02,
    }
    app = Host(full_card(details=details))
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        track = text_of(section(app, TrackRecordSection))
        # the skill is the tested model's; the confidence itself is the base rate (the verdict says so)
        assert "gradient boosting" in line_with(track, "Confidence model")
        assert "[-0.020, +0.058]" in track
        assert "no measured edge: the confidence is the base rate 47%" in track


async def test_a_card_without_meta_label_keys_shows_no_meta_lines() -> None:
    app = Host(full_card())
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.pause()
        track = text_of(section(app, TrackRecordSection))
        assert "Past signals" in track  # the section drew
        assert "Confidence model" not in track and "measured edge" not in track
        assert "Brier 0.231 vs base rate 0.244" in track  # the score calibrator's check instead
