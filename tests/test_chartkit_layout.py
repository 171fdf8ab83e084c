"""HouseFigure: laid out once, inside the save's own draw, where constrained layout would put the axes."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from cinb.chartkit import HouseFigure, house_figure, house_style


def _chart(fig):
    """A house-style single-axes chart: two-line y label, right-hand labels, two-line x ticks, a legend below."""
    ax = fig.add_subplot()
    ax.plot(np.arange(24), np.sin(np.arange(24) / 3) * 10 + 50, marker="o", label="Monthly value")
    ax.axhline(55, color="C1", label="SLA")
    ax.set_ylabel("A rather long KPI name (%)\nhigher is better")
    ax.set_xticks([0, 6, 12, 18], ["Jan\n2024", "Jul", "Jan\n2025", "Jul"])
    ax.annotate("Upper limit 61.2 (computed 63.0)", xy=(1.0, 0.9), xycoords="axes fraction",
                xytext=(1.015, 0.9), textcoords="axes fraction", annotation_clip=False)
    fig.legend(loc="outside lower center", ncols=2)
    return ax


def _grid(fig):
    axes = fig.subplots(2, 2, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.plot(np.arange(18), np.cos(np.arange(18) / (k + 2)) * (k + 1))
        ax.set_title(f"Panel {k} with a left-aligned title", loc="left", pad=20)
        ax.set_ylabel("%")
    fig.legend(axes[0, 0].get_lines(), ["Value"], loc="outside lower center")
    return list(axes.flat)


@pytest.mark.parametrize("build", [_chart, _grid])
def test_layout_matches_constrained_layout_within_two_pixels(build):
    with house_style():
        ours = house_figure(height_in=3.0)
        ref = Figure(figsize=ours.get_size_inches(), layout="constrained")
        ours_axes, ref_axes = build(ours), build(ref)
        for fig in (ours, ref):
            fig.savefig(io.BytesIO(), format="svg")
    ours_axes = ours_axes if isinstance(ours_axes, list) else [ours_axes]
    ref_axes = ref_axes if isinstance(ref_axes, list) else [ref_axes]
    width, height = ours.get_size_inches() * 72  # SVG points
    for a, b in zip(ours_axes, ref_axes):
        pa, pb = np.array(a.get_position().bounds), np.array(b.get_position().bounds)
        assert np.abs((pa - pb) * [width, height, width, height]).max() < 2.0


def test_saving_draws_once_and_the_axes_stay_put():
    draws = []

    class Counting(HouseFigure):
        def draw(self, renderer):
            draws.append(type(renderer).__name__)
            super().draw(renderer)

    with house_style():
        fig = Counting(figsize=(6.7, 2.8), layout="constrained")
        ax = _chart(fig)
        fig.savefig(io.BytesIO(), format="svg")
        assert len(draws) == 1  # no silent layout draw before the real one
        first = ax.get_position().bounds
        fig.savefig(io.BytesIO(), format="png", dpi=150)
        assert ax.get_position().bounds == first  # laid out once; a second save does not move the axes
        assert fig.get_layout_engine() is None
        assert len(draws) == 2


@pytest.mark.parametrize("build", [_chart, _grid])
def test_ticks_worked_out_once_give_the_same_bytes_as_matplotlib(build, monkeypatch):
    """The tick memo inside the save (chartkit._ticks_once) changes how often ticks are computed, never the image."""
    import contextlib

    import cinb.chartkit as chartkit

    def svg():
        with house_style():
            fig = house_figure(height_in=3.0)
            build(fig)
            # the automatic y locator of a taller axis ticks differently: the memo must follow the layout's moves
            buf = io.BytesIO()
            fig.savefig(buf, format="svg", metadata={"Date": None})
        return buf.getvalue()

    calls = []
    real = chartkit._ticks_once

    def counting(fig, renderer):
        calls.append(fig)
        return real(fig, renderer)

    monkeypatch.setattr(chartkit, "_ticks_once", counting)
    with_memo = svg()
    monkeypatch.setattr(chartkit, "_ticks_once", lambda fig, renderer: contextlib.nullcontext())
    without = svg()
    assert calls, "the save did not go through the tick memo"
    assert with_memo == without
    # and nothing is left on the axes afterwards: the memo's methods are removed when the draw ends
    with house_style():
        fig = house_figure(height_in=3.0)
        axes = build(fig) if build is _grid else [build(fig)]
        fig.savefig(io.BytesIO(), format="svg")
    assert all("_update_ticks" not in ax.xaxis.__dict__ and "_update_ticks" not in ax.yaxis.__dict__ for ax in axes)
