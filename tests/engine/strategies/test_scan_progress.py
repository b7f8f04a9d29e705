"""The session's scan says how far it is, and gives up when told to (the engine stopping)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.strategies.scan import scan
from engine.strategies.templates import TEMPLATES
from engine.strategies.templates.base import Bars, Panel
from tests.shipped import shipped_subset


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def panel() -> Panel:
    bars = shipped_subset(["AAPL", "MSFT"]).bars
    return {s: Bars.from_frame(s, f.loc[f.index < np.datetime64("2011-06-01")]) for s, f in bars.items()}


def test_progress_is_told_before_each_template_and_may_abandon_the_scan(panel: Panel) -> None:
    templates = list(TEMPLATES.values())
    seen: list[tuple[int, int, str]] = []

    def progress(done: int, total: int, name: str) -> None:
        seen.append((done, total, name))
        if done == 2:
            raise Stop  # what CardPipeline's reporter does once the engine stops

    with pytest.raises(Stop):
        scan(panel, templates, progress=progress)
    assert seen == [(i, len(templates), t.name) for i, t in enumerate(templates[:3])]
