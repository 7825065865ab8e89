"""`quiz lab`: each experiment on the reference at tiny sizes, the numbers it saves, the text
shown without matplotlib, and a broken exercise costing only the experiments that call it."""

from __future__ import annotations

import json
import math
import re
import shutil
import sys

import pytest
from typer.testing import CliRunner

from quizgrader import cli, lab
from quizgrader.days.day16.lab import Settings
from quizgrader.days.day16.lab import text as day16_text
from quizgrader.lab import text
from quizgrader.paths import reference_root

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = Settings(
    steps=12,
    copy_n=4,
    vocab=6,
    batch=8,
    lm_d_model=16,
    lm_heads=2,
    lm_layers=2,
    pe_positions=24,
    pe_dims=8,
    lengths=(16, 32, 64, 128),
    attn_d=8,
    attn_batch=1,
    repeats=1,
    depth=2,
    stack_d_model=16,
    stack_heads=2,
)
NAMES = ["attention_maps", "positional", "throughput", "pre_post_ln"]


def quiz(*args: str):
    return CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


def squash(s: str) -> str:
    return re.sub(r"\s+", " ", s)


@pytest.fixture(scope="module")
def reference_run(zygote, tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    report = lab.run(
        lab.LabOptions(day="day16", workspace=reference_root(), settings=TINY, reference=True), zygote=zygote
    )
    saved = lab.save(report, out)
    return report, saved, out


def test_every_experiment_runs_on_the_reference_and_draws_a_png(reference_run):
    report, saved, out = reference_run
    assert [o.name for o in report.outcomes] == NAMES
    assert not report.failed, [o.error for o in report.failed]
    assert saved.no_images is None
    for name in NAMES:
        png = out / f"{name}.png"
        assert png in saved.files and report.outcome(name).files == [str(png)]
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC and 5_000 < len(data) < 150_000, (name, len(data))


def test_results_json_holds_every_number(reference_run):
    out = reference_run[2]
    data = json.loads((out / lab.RESULTS).read_text())
    assert {"day", "workspace", "reference", "device", "seed", "steps", "settings", "experiments"} <= set(
        data
    )
    assert data["day"] == "day16" and data["reference"] is True and data["steps"] == TINY.steps
    ex = data["experiments"]
    assert set(ex) == set(NAMES) and all(e["ok"] and e["error"] is None for e in ex.values())

    maps = ex["attention_maps"]["data"]
    assert (maps["layers"], maps["heads"]) == (TINY.lm_layers, TINY.lm_heads)
    assert maps["steps"] == TINY.steps == len(maps["losses"]) and math.isfinite(maps["final_loss"])
    T = 2 * TINY.copy_n
    assert len(maps["tokens"]) == T and maps["tokens"][TINY.copy_n] == maps["separator"]
    for head in (h for layer in maps["weights"] for h in layer):
        assert len(head) == T and all(len(row) == T for row in head)
        for i, row in enumerate(head):
            assert sum(row) == pytest.approx(1.0, abs=1e-4)  # a distribution over the keys
            assert all(w == 0.0 for w in row[i + 1 :])  # causal: nothing from the future

    pe = ex["positional"]["data"]
    assert (pe["positions"], pe["dims"]) == (TINY.pe_positions, TINY.pe_dims) and pe["max_abs_error"] < 1e-5
    d = pe["dims"]
    for p in (0, 1, 7, 23):
        for i in range(d // 2):
            angle = p / 10000 ** (2 * i / d)
            assert pe["encoding"][p][2 * i] == pytest.approx(math.sin(angle), abs=1e-5)
            assert pe["encoding"][p][2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-5)
    assert pe["similarity"][3][3] == pytest.approx(d / 2, abs=1e-4)  # sin² + cos² per pair

    speed = ex["throughput"]["data"]
    assert speed["lengths"] == list(TINY.lengths)
    assert len(speed["yours_seconds"]) == len(speed["library_seconds"]) == len(TINY.lengths)
    assert all(t > 0 for t in speed["yours_seconds"] + speed["library_seconds"])
    assert math.isfinite(speed["slope_yours"]) and math.isfinite(speed["slope_library"])
    assert speed["max_abs_difference"] < 1e-4

    ln = ex["pre_post_ln"]["data"]
    for curve in (ln["pre_ln"], ln["post_ln"]):
        assert len(curve) == TINY.steps and all(math.isfinite(x) for x in curve)
    assert ln["pre_ln"][0] == pytest.approx(ln["post_ln"][0], abs=0.5)  # same seed, same batches


def test_the_fitted_slope_of_a_quadratic_is_two():
    from quizgrader.days.day16.checks.attention import growth_exponent

    T = [64, 128, 256, 512]
    assert growth_exponent(T, [1e-6 * t * t for t in T]) == pytest.approx(2.0)
    assert growth_exponent(T[:2], [1e-6 * t * t for t in T[:2]]) == pytest.approx(
        2.0
    )  # two lengths: both used
    assert math.isnan(growth_exponent(T[:1], [1e-3]))


def test_without_matplotlib_the_results_are_printed_as_numbers(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    out = tmp_path / "lab"
    run = quiz(
        "lab",
        "day16",
        "--reference",
        "--workspace",
        str(tmp_path / "none"),
        "--only",
        "positional,throughput",
        "--out",
        str(out),
    )
    assert run.exit_code == 0, run.output
    said = squash(run.output)
    assert "matplotlib is not installed" in said
    assert "✔ positional" in said and "✔ throughput" in said
    assert (
        re.search(r"[+-]0\.\d\d", said)
        and "fitted log–log slope" in said
        and re.search(r"reference \d\.\d\d", said)
    )
    assert not list(out.glob("*.png"))
    data = json.loads((out / lab.RESULTS).read_text())
    assert set(data["experiments"]) == {"positional", "throughput"}


def test_text_details_show_every_experiment(reference_run):
    from rich.console import Console

    report, _, _ = reference_run
    console = Console(record=True, width=200, color_system=None)
    console.print(text.details(report))
    shown = console.export_text()
    assert "layer 1, head 1" in shown and " 1.0" in shown  # attention maps, rounded
    assert "PE[p] · PE[p + k]" in shown and "fitted log–log slope" in shown
    assert "Pre-LN" in shown and "Post-LN" in shown and any(c in shown for c in day16_text.SPARKS)


def test_a_broken_attention_fails_the_experiments_that_use_it_and_no_others(tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(reference_root() / "day16", ws / "day16")
    source = (ws / "day16" / "attention.py").read_text()
    broken = source.replace("    d_k = Q.size(-1)\n", "    raise NotImplementedError\n", 1)
    assert broken != source
    (ws / "day16" / "attention.py").write_text(broken)
    out = tmp_path / "lab"
    run = quiz("lab", "day16", "--workspace", str(ws), "--out", str(out), "--steps", "3", "--text")
    assert run.exit_code == 1, run.output
    said = squash(run.output)
    for name in ("attention_maps", "throughput", "pre_post_ln"):
        assert (
            f"✘ {name} failed: day16.attention.scaled_dot_product_attention is not implemented yet" in said
        ), said
    assert "✔ positional" in said and "largest difference from sin/cos" in said
    data = json.loads((out / lab.RESULTS).read_text())["experiments"]
    assert data["positional"]["ok"] and not data["throughput"]["ok"]
    assert data["attention_maps"]["exercise"] == "day16.attention.scaled_dot_product_attention"
    assert "day16/attention.py, line" in data["attention_maps"]["error"]


@pytest.mark.parametrize("args", [["day9"], ["day16", "--only", "attention"]])
def test_a_day_without_a_lab_or_an_unknown_experiment_is_a_usage_error(args):
    run = quiz("lab", *args)
    assert run.exit_code == 2
    assert "no lab" in run.output if args == ["day9"] else "unknown experiment 'attention'" in run.output
