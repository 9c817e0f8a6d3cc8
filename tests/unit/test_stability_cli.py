"""`labgate stability shelf-life` and `labgate stability oot`, driven through Typer in-process.

The data file velagaleti_p613.csv is the worked example of R. Velagaleti, "Stability and Shelf
Life of Pharmaceutical Products", in *Pharmaceutical Manufacturing Handbook: Regulations and
Quality* (S. C. Gad, ed., Wiley, 2008), p. 613: three batches whose slopes differ; with a lower
limit of 90 % the batches last 24, 23 and 17 months and the product 17.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from labgate.entrypoints.cli.stability import stability_app

P613 = Path(__file__).parent / "data" / "stability" / "velagaleti_p613.csv"


def build_app() -> typer.Typer:
    """Register the sub-app on a throwaway app, as main.py will."""
    app = typer.Typer()

    @app.callback()
    def labgate() -> None:
        """labgate."""

    app.add_typer(stability_app, name="stability")
    return app


def run(*args: str) -> tuple[int, str, str]:
    """Invoke `labgate stability ARGS`; return exit code, stdout and stderr."""
    result = CliRunner().invoke(build_app(), ["stability", *args])
    return result.exit_code, result.stdout, result.stderr


def csv_file(tmp_path: Path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


HISTORY = "batch,time,value\n" + "".join(
    f"H{b},{t},{100 - 0.3 * t + d}\n"
    for b, d in ((1, 0.4), (2, -0.3), (3, 0.1))
    for t in (0, 3, 6, 9, 12, 18, 24)
)


class TestShelfLife:
    def test_json_carries_the_published_answer(self) -> None:
        code, out, _ = run("shelf-life", str(P613), "--lower", "90", "--json")
        assert code == 0
        report = json.loads(out)
        assert set(report) >= {
            "model",
            "shelf_life",
            "proposed_shelf_life",
            "p_slopes",
            "p_intercepts",
            "determined_by",
            "lower",
            "upper",
            "confidence",
            "batches",
        }
        assert report["model"] == "dids"
        assert math.floor(report["shelf_life"]) == 17
        assert report["proposed_shelf_life"] == report["shelf_life"]
        assert report["p_slopes"] == pytest.approx(0.02392274, abs=5e-9)
        assert report["p_intercepts"] is None
        assert (report["determined_by"], report["lower"], report["upper"]) == ("3", 90.0, None)
        assert (report["sides"], report["confidence"], report["bound_level"]) == (1, 0.95, 0.95)
        assert [b["batch"] for b in report["batches"]] == ["1", "2", "3"]
        assert [math.floor(b["shelf_life"]) for b in report["batches"]] == [24, 23, 17]
        assert set(report["batches"][0]) == {"batch", "intercept", "slope", "shelf_life"}

    def test_shelf_life_is_reported_to_two_decimals(self) -> None:
        _, out, _ = run("shelf-life", str(P613), "--lower", "90", "--json")
        value = json.loads(out)["shelf_life"]
        assert value == round(value, 2)

    def test_both_limits_make_it_two_sided(self) -> None:
        code, out, _ = run("shelf-life", str(P613), "--lower", "90", "--upper", "110", "--json")
        report = json.loads(out)
        assert code == 0
        assert (report["sides"], report["bound_level"]) == (2, 0.975)
        one_sided = json.loads(run("shelf-life", str(P613), "--lower", "90", "--json")[1])
        assert report["shelf_life"] < one_sided["shelf_life"]

    def test_upper_limit_alone(self, tmp_path: Path) -> None:
        rising = "batch,time,value\n" + "".join(
            f"{b},{t},{0.05 + r * t + d}\n"
            for b, r, d in (("A", 0.010, 0.003), ("B", 0.011, -0.002), ("C", 0.009, 0.001))
            for t in (0, 3, 6, 9, 12)
        )
        code, out, _ = run("shelf-life", csv_file(tmp_path, rising), "--upper", "0.3", "--json")
        report = json.loads(out)
        assert code == 0
        assert (report["lower"], report["upper"], report["sides"]) == (None, 0.3, 1)
        assert 0 < report["shelf_life"] < 25
        assert report["proposed_shelf_life"] == min(report["shelf_life"], 24)  # 2X, X = 12

    def test_summary_for_a_person(self) -> None:
        code, out, _ = run("shelf-life", str(P613), "--lower", "90")
        assert code == 0
        assert "Shelf life: 17." in out and "(batch 3)" in out
        assert "dids" in out

    def test_no_crossing_is_said_not_invented(self, tmp_path: Path) -> None:
        flat = "batch,time,value\nA,0,100\nA,3,99.9\nA,6,100.1\nA,9,100\n"
        _, out, _ = run("shelf-life", csv_file(tmp_path, flat), "--lower", "90", "--json")
        report = json.loads(out)
        assert report["shelf_life"] is None
        assert "no estimate" in report["reason"]
        assert report["proposed_shelf_life"] == 18  # 2X, X = 9


class TestOot:
    def test_json_points_in_order(self, tmp_path: Path) -> None:
        new = "batch,time,value\nN1,3,99.0\nN1,6,95.0\nN1,12,96.5\n"
        code, out, _ = run(
            "oot", csv_file(tmp_path, HISTORY, "h.csv"), csv_file(tmp_path, new, "n.csv"), "--json"
        )
        assert code == 0
        report = json.loads(out)
        assert report["alpha"] == 0.05
        assert set(report["fit"]) == {"intercept", "slope", "s", "n"}
        assert report["fit"]["n"] == 21
        points = report["points"]
        assert [(p["batch"], p["time"], p["value"]) for p in points] == [
            ("N1", 3.0, 99.0),
            ("N1", 6.0, 95.0),
            ("N1", 12.0, 96.5),
        ]
        assert set(points[0]) == {"batch", "time", "value", "predicted", "lower", "upper", "oot"}
        assert [p["oot"] for p in points] == [False, True, False]
        assert all(p["lower"] < p["predicted"] < p["upper"] for p in points)

    def test_alpha_widens_or_narrows_the_interval(self, tmp_path: Path) -> None:
        files = csv_file(tmp_path, HISTORY, "h.csv"), csv_file(tmp_path, HISTORY, "n.csv")
        wide = json.loads(run("oot", *files, "--alpha", "0.01", "--json")[1])["points"][0]
        narrow = json.loads(run("oot", *files, "--alpha", "0.2", "--json")[1])["points"][0]
        assert wide["upper"] - wide["lower"] > narrow["upper"] - narrow["lower"]

    def test_summary_for_a_person(self, tmp_path: Path) -> None:
        new = "batch,time,value\nN1,6,95.0\n"
        code, out, _ = run("oot", csv_file(tmp_path, HISTORY, "h.csv"), csv_file(tmp_path, new))
        assert code == 0
        assert "95% prediction interval" in out and "yes (alert)" in out


BAD_INPUT = [
    pytest.param("batch,time,value\n", "has a header but no results", id="no-results"),
    pytest.param(
        "Batch,Month,Potency\nA,0,100\n", "the header must be batch,time,value", id="header"
    ),
    pytest.param("", "the header must be batch,time,value; found nothing", id="empty-file"),
    pytest.param("batch,time,value\nA,0\n", "line 2 has 2 fields", id="short-row"),
    pytest.param(
        "batch,time,value\nA,0,100\nA,3,9x.1\n",
        "line 3, column value: '9x.1' is not a number",
        id="value",
    ),
    pytest.param("batch,time,value\nA,three,100\n", "line 2, column time", id="time"),
    pytest.param("batch,time,value\nA,0,nan\n", "column value: 'nan' is not a number", id="nan"),
    pytest.param(
        "batch,time,value\n,0,100\n", "line 2, column batch: the batch is empty", id="batch"
    ),
    pytest.param("batch,time,value\nA,0,100\nA,3,99\n", "at least 3 results", id="two-points"),
    pytest.param(
        "batch,time,value\nA,0,100\nA,3,99\nA,6,98\nB,6,97\nB,6,98\nB,6,96\n",
        "Batch 'B' has all its results at time 6",
        id="one-time",
    ),
    pytest.param("batch,time,value\nA,-1,100\nA,3,99\nA,6,98\n", "times start at 0", id="negative"),
]


@pytest.mark.parametrize(("text", "sentence"), BAD_INPUT)
def test_shelf_life_bad_input_exits_2_with_a_sentence(
    tmp_path: Path, text: str, sentence: str
) -> None:
    code, out, err = run("shelf-life", csv_file(tmp_path, text), "--lower", "90", "--json")
    assert code == 2
    assert out == ""
    assert sentence in err
    assert err.strip().endswith(".") and err.count("\n") == 1


@pytest.mark.parametrize(("text", "sentence"), BAD_INPUT[:8])
def test_oot_bad_input_exits_2_with_a_sentence(tmp_path: Path, text: str, sentence: str) -> None:
    history = csv_file(tmp_path, HISTORY, "h.csv")
    code, _, err = run("oot", history, csv_file(tmp_path, text), "--json")
    assert code == 2
    assert sentence in err


def test_shelf_life_needs_a_limit() -> None:
    code, _, err = run("shelf-life", str(P613), "--json")
    assert code == 2
    assert "Give --lower, --upper or both" in err


def test_inverted_limits_are_refused() -> None:
    code, _, err = run("shelf-life", str(P613), "--lower", "110", "--upper", "90")
    assert code == 2
    assert "must be below the upper limit" in err


def test_missing_file(tmp_path: Path) -> None:
    code, _, err = run("shelf-life", str(tmp_path / "absent.csv"), "--lower", "90")
    assert code == 2
    assert "absent.csv does not exist." in err


def test_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00batch")
    code, _, err = run("shelf-life", str(path), "--lower", "90")
    assert (code, "is not UTF-8 text." in err) == (2, True)


def test_byte_order_mark_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    text = "\ufeffbatch, time ,value\r\nA,0,100\r\nA,3,99.1\r\n\r\nA,6,97.9\r\nA,9,97.2\r\n"
    code, out, _ = run("shelf-life", csv_file(tmp_path, text), "--lower", "90", "--json")
    assert code == 0
    assert json.loads(out)["model"] == "cics"


@pytest.mark.parametrize("alpha", ["0", "1", "1.5"])
def test_oot_alpha_out_of_range(tmp_path: Path, alpha: str) -> None:
    history = csv_file(tmp_path, HISTORY, "h.csv")
    code, _, err = run("oot", history, history, "--alpha", alpha)
    assert code == 2
    assert "alpha must lie strictly between 0 and 1" in err


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_q1e_plot_is_written_as_png_and_is_the_same_bytes_for_the_same_data(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    assert run("shelf-life", str(P613), "--lower", "90", "--plot", str(first))[0] == 0
    assert run("shelf-life", str(P613), "--lower", "90", "--json", "--plot", str(second))[0] == 0
    assert png_size(first.read_bytes()) == (700, 450)
    assert first.read_bytes() == second.read_bytes()  # a report embedding it stays reproducible
    assert b"Matplotlib" not in first.read_bytes()  # no software version stamped in the file


def test_no_plot_is_written_for_bad_input(tmp_path: Path) -> None:
    target = tmp_path / "plot.png"
    code, _, _ = run("shelf-life", str(P613), "--plot", str(target))  # no limit given
    assert code == 2
    assert not target.exists()
