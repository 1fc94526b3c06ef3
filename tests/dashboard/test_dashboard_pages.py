"""End-to-end: the dashboard's pages in headless Chromium against a real server."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _layout(page: Any, div_id: str) -> dict[str, Any]:
    return page.evaluate(
        """(id) => {
            const gd = document.getElementById(id);
            if (!gd || !gd._fullLayout) return null;
            const ax = (a) => a && {type: a.type, tickvals: a.tickvals || null,
                                    ticktext: a.ticktext || null};
            return {xaxis: ax(gd.layout.xaxis), yaxis: ax(gd.layout.yaxis),
                    full_xaxis_type: gd._fullLayout.xaxis && gd._fullLayout.xaxis.type,
                    traces: gd.data.map(t => ({type: t.type, name: t.name, n: (t.x || []).length,
                                               fill: t.fill || null}))};
        }""",
        div_id,
    )


def _open_study(page: Any, base: str, study_id: int) -> None:
    page.goto(f"{base}/studies/{study_id}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("body[data-plots-ready='1']", timeout=90_000)


def test_studies_page_lists_searches_and_filters(page, dash_server, studies, screenshot):
    page.goto(dash_server.base_url + "/")
    page.wait_for_selector("body[data-ready='1']")
    c2f = studies["c2f"]
    row = page.locator(f"#studies-table tr[data-study-id='{c2f['id']}']")
    row.wait_for()
    text = row.inner_text()
    assert "c2f-ask-tell" in text
    assert "completed" in text
    assert "24/24" in text  # progress done/total
    assert "coarse_to_fine" in text
    best = c2f["best_trial"]
    assert f"#{best['number']}" in row.locator(".best-value").inner_text()
    screenshot(page, "studies")

    page.fill("#search", "quadratic")
    page.wait_for_function(
        "document.querySelectorAll('#studies-table tbody tr[data-study-id]').length === 1"
    )
    assert "simple-quadratic" in page.locator("#studies-table tbody").inner_text()

    page.fill("#search", "")
    page.select_option("#state-filter", "running")
    page.wait_for_function(
        "document.querySelector('#studies-table tbody').innerText.includes('No studies')"
    )
    page.select_option("#state-filter", "completed")
    page.wait_for_selector(f"#studies-table tr[data-study-id='{c2f['id']}']")


def test_studies_page_auto_refreshes_shows_created_time_and_filters_by_mode(
    page, dash_server, studies, diverged_study, api
):
    page.goto(dash_server.base_url + "/")
    page.wait_for_selector("body[data-ready='1']")
    c2f = studies["c2f"]
    row = page.locator(f"#studies-table tr[data-study-id='{c2f['id']}']")
    row.wait_for()

    # The created-time column: a rendering of the study's created_at (its year and a time).
    created = row.locator("td").nth(7).inner_text().strip()
    year = page.evaluate("(iso) => new Date(iso).getFullYear()", c2f["created_at"])
    assert str(year) in created and ":" in created, created
    assert "Invalid" not in created

    # Auto-refresh: a study created through the API meanwhile shows up by itself within the
    # refresh period (5 s) plus a margin, without a navigation.
    assert page.is_checked("#auto-refresh")
    page.evaluate("window.__samePage = true")
    r = api.post(
        "/studies",
        json={
            "name": "appears-by-itself",
            "mode": "ask_tell",
            "objective": {"metric": "loss", "direction": "minimize"},
            "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
            "n_trials": 3,
        },
    )
    assert r.status_code == 201, r.text
    new = r.json()
    try:
        _check_auto_refresh_and_mode_filter(page, c2f, diverged_study, new)
    finally:  # not left open: the other tests filter the list by state
        api.post(f"/studies/{new['id']}/stop")


def _check_auto_refresh_and_mode_filter(
    page: Any, c2f: dict[str, Any], diverged_study: dict[str, Any], new: dict[str, Any]
) -> None:
    t0 = time.monotonic()
    new_row = page.locator(f"#studies-table tr[data-study-id='{new['id']}']")
    new_row.wait_for(timeout=5_000 + 3_000)
    print(f"new study listed after {time.monotonic() - t0:.1f} s")
    assert page.evaluate("window.__samePage === true")
    assert "appears-by-itself" in new_row.inner_text()
    assert "0/3" in new_row.inner_text()

    def modes() -> list[str]:
        return page.eval_on_selector_all(
            "#studies-table tbody tr[data-study-id]", "rs => rs.map(r => r.cells[2].innerText)"
        )

    # Mode filter, answered by the server: only that mode's studies are listed.
    page.select_option("#mode-filter", "caviar")
    page.wait_for_selector(f"#studies-table tr[data-study-id='{c2f['id']}']", state="detached")
    page.wait_for_selector(f"#studies-table tr[data-study-id='{diverged_study['id']}']")
    assert set(modes()) == {"caviar"}
    page.select_option("#mode-filter", "ask_tell")
    page.wait_for_selector(f"#studies-table tr[data-study-id='{c2f['id']}']")
    page.wait_for_selector(
        f"#studies-table tr[data-study-id='{diverged_study['id']}']", state="detached"
    )
    assert set(modes()) == {"ask_tell"}
    assert new_row.count() == 1
    page.select_option("#mode-filter", "panda")
    page.wait_for_selector(f"#studies-table tr[data-study-id='{c2f['id']}']", state="detached")
    assert set(modes()) <= {"panda"}
    page.select_option("#mode-filter", "")
    page.wait_for_selector(f"#studies-table tr[data-study-id='{diverged_study['id']}']")
    page.wait_for_selector(f"#studies-table tr[data-study-id='{c2f['id']}']")


def test_study_page_plots_have_the_right_axes(page, dash_server, studies, screenshot):
    study = studies["c2f"]
    _open_study(page, dash_server.base_url, study["id"])

    # The header.
    assert page.inner_text("#study-state") == "completed"
    assert page.inner_text("#study-progress") == "24/24"
    assert f"trial #{study['best_trial']['number']}" in page.inner_text("#study-best")

    lr = _layout(page, "plot-param-learning_rate")
    assert lr["full_xaxis_type"] == "log"
    beta = _layout(page, "plot-param-beta")
    # −log10(1 − β) on a linear axis, labelled as β.
    assert beta["full_xaxis_type"] == "linear"
    assert beta["xaxis"]["ticktext"] == ["0.9", "0.99", "0.999"]
    assert beta["xaxis"]["tickvals"] == pytest.approx([1.0, 2.0, 3.0])
    xs = page.evaluate(
        "document.getElementById('plot-param-beta').data.filter(t => !t.fill).flatMap(t => t.x)"
    )
    assert xs and all(1.0 - 1e-9 <= x <= 3.0 + 1e-9 for x in xs)
    bs = _layout(page, "plot-param-batch_size")
    assert bs["full_xaxis_type"] == "log"
    assert bs["xaxis"]["ticktext"] == ["16", "32", "64", "128", "256", "512"]
    opt = _layout(page, "plot-param-optimizer")
    assert opt["full_xaxis_type"] == "category"

    # Coloured by round, with the coarse-to-fine boxes drawn.
    names = [t["name"] for t in lr["traces"]]
    assert "round 0" in names and "round 1" in names
    assert any(t["fill"] == "toself" for t in lr["traces"])

    par = page.evaluate(
        "(() => { const gd = document.getElementById('plot-parcoords');"
        " return gd.data[0].dimensions.map(d => d.label); })()"
    )
    assert par == [
        "learning_rate",
        "beta",
        "batch_size",
        "hidden_units",
        "optimizer",
        "dev_accuracy",
    ]

    best = page.evaluate("document.getElementById('plot-best-number').data[0]")
    assert best["y"] == sorted(best["y"])  # maximise: never decreases
    assert best["y"][-1] == pytest.approx(study["best_trial"]["value"])

    # Best so far against wall time: seconds since the study started, ascending; the best
    # never decreases (maximise) and ends at the best trial's value.
    by_time = page.evaluate(
        """(() => { const gd = document.getElementById('plot-best-time');
                    return {x: gd.data[0].x, y: gd.data[0].y, text: gd.data[0].text,
                            title: gd._fullLayout.xaxis.title.text,
                            type: gd._fullLayout.xaxis.type}; })()"""
    )
    assert len(by_time["x"]) >= 2
    assert "time" in by_time["title"].lower() and by_time["type"] == "linear"
    assert all(isinstance(x, int | float) and x >= 0 for x in by_time["x"])
    assert by_time["x"] == sorted(by_time["x"])
    assert by_time["y"] == sorted(by_time["y"])
    assert by_time["y"][-1] == pytest.approx(study["best_trial"]["value"])
    assert by_time["text"][-1] == f"trial #{study['best_trial']['number']}"

    # Bias/variance of the best trial, with the human-level error of the objective.
    diag = page.evaluate("document.getElementById('plot-diagnosis').data[0]")
    assert diag["x"] == ["human-level", "train error", "dev error"]
    assert diag["y"][0] == pytest.approx(0.02)
    assert "variance" in page.inner_text("#diagnosis-verdict").lower()
    assert page.locator("#diagnosis-advice li").count() >= 1

    imp = page.evaluate("document.getElementById('plot-importance').data[0]")
    assert set(imp["y"]) == {"learning_rate", "beta", "batch_size", "hidden_units", "optimizer"}
    assert math.isclose(sum(imp["x"]), 1.0, abs_tol=1e-3)
    # Ascending order: learning_rate (the objective's steepest term) above hidden_units (which
    # it ignores) and the optimizer; see test_importance_is_a_distribution_over_params.
    rank = {name: i for i, name in enumerate(imp["y"])}
    assert rank["learning_rate"] > max(rank["hidden_units"], rank["optimizer"])
    assert imp["y"][-1] in ("learning_rate", "beta")

    # Learning curves: the best trials plus the pruned one, marked.
    curves = page.evaluate("document.getElementById('plot-curves').data.map(t => t.name)")
    assert any(n.endswith(" dev") for n in curves) and any(n.endswith(" train") for n in curves)
    assert any(n.endswith(" pruned") for n in curves)
    screenshot(page, "study")

    # Ticking a trial overlays its curve.
    before = len(curves)
    box = page.locator("#trials-table input.curve-pick:not(:checked)").first
    box.check()
    page.wait_for_function(
        f"document.getElementById('plot-curves').data.length > {before}", timeout=20_000
    )


def test_diverged_trial_is_marked_on_the_learning_curves(
    page, dash_server, diverged_study, screenshot
):
    """A trial the engine really ran into NaN/inf: its finite epochs drawn, a 'diverged'
    marker on its last one, and its state in the table."""
    div = next(t for t in diverged_study["trials"] if t["state"] == "diverged")
    ok = next(t for t in diverged_study["trials"] if t["state"] == "completed")
    hist = div["history"]
    _open_study(page, dash_server.base_url, diverged_study["id"])

    row = page.locator(f"#trials-table tr[data-trial-id='{div['id']}']")
    assert row.locator(".badge").inner_text() == "diverged"
    assert "diverged" in (row.get_attribute("title") or "")

    traces = page.evaluate(
        """(() => document.getElementById('plot-curves').data.map(t => ({
              name: t.name, x: Array.from(t.x), y: Array.from(t.y), mode: t.mode,
              text: t.text || null, symbol: t.marker ? t.marker.symbol : null})))()"""
    )
    by_name = {t["name"]: t for t in traces}
    n = div["number"]
    marker = by_name[f"#{n} diverged"]
    assert marker["text"] == ["diverged"] and marker["symbol"] == "x"
    assert marker["x"] == [hist[-1]["epoch"]]
    assert marker["y"] == pytest.approx([hist[-1]["dev_loss"]])
    dev = by_name[f"#{n} dev"]
    assert dev["x"] == [r["epoch"] for r in hist]
    assert dev["y"] == pytest.approx([r["dev_loss"] for r in hist])
    assert f"#{n} train" in by_name
    # The completed trial is drawn and not marked.
    assert f"#{ok['number']} dev" in by_name
    assert not any(
        name.startswith(f"#{ok['number']} ") and t["text"] for name, t in by_name.items()
    )
    screenshot(page, "study-diverged")


def test_trials_table_sorts_and_paginates_on_the_server(page, dash_server, studies, api):
    study = studies["c2f"]
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/trials?" in r.url else None)
    page.goto(f"{dash_server.base_url}/studies/{study['id']}")
    page.wait_for_selector("body[data-ready='1']")

    def numbers() -> list[int]:
        return [
            int(x)
            for x in page.eval_on_selector_all(
                "#trials-table tbody tr[data-number]", "rs => rs.map(r => r.dataset.number)"
            )
        ]

    assert numbers() == list(range(24))
    page.select_option("#page-size", "25")
    page.wait_for_function(
        "document.getElementById('trials-page-info').innerText.startsWith('1–24')"
    )

    # Sort by value, descending on the second click.
    page.click("#trials-table th[data-sort='value']")
    page.wait_for_function("document.getElementById('study').dataset.trialsSort === 'value'")
    page.click("#trials-table th[data-sort='value']")
    page.wait_for_function("document.getElementById('study').dataset.trialsSort === '-value'")
    expected = api.get(
        f"/studies/{study['id']}/trials", params={"sort": "-value", "limit": 25}
    ).json()
    assert numbers() == [t["number"] for t in expected["items"]]
    values = [
        float(v)
        for v in page.eval_on_selector_all(
            "#trials-table tbody td.value-cell", "cs => cs.map(c => c.innerText)"
        )
        if v != "–"
    ]
    assert values == sorted(values, reverse=True)
    assert any("sort=-value" in u for u in requests)  # sorted by the server

    # A hyperparameter's header sorts on the server too, descending on the second click.
    th = "#trials-table th[data-sort='param:learning_rate']"
    page.click(th)
    page.wait_for_function(
        "document.getElementById('study').dataset.trialsSort === 'param:learning_rate'"
    )
    page.click(th)
    page.wait_for_function(
        "document.getElementById('study').dataset.trialsSort === '-param:learning_rate'"
    )
    expected = api.get(
        f"/studies/{study['id']}/trials", params={"sort": "-param:learning_rate", "limit": 25}
    ).json()
    assert numbers() == [t["number"] for t in expected["items"]]
    assert page.inner_text(th).endswith("▼")
    assert any("sort=-param%3Alearning_rate" in u for u in requests)

    # Pagination: 10 per page over the API's limit/offset.
    page.evaluate(
        "(() => { const s = document.getElementById('page-size');"
        " s.append(new Option('10', '10')); s.value = '10';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    page.click("#trials-table th[data-sort='number']")
    page.wait_for_function("document.getElementById('study').dataset.trialsSort === 'number'")
    page.wait_for_function(
        "document.querySelectorAll('#trials-table tbody tr[data-number]').length === 10"
    )
    assert numbers() == list(range(10))
    page.click("#trials-next")
    page.wait_for_function("document.getElementById('study').dataset.trialsOffset === '10'")
    assert numbers() == list(range(10, 20))
    page.click("#trials-next")
    page.wait_for_function("document.getElementById('study').dataset.trialsOffset === '20'")
    assert numbers() == [20, 21, 22, 23]
    assert page.is_disabled("#trials-next")
    assert any("offset=20" in u and "limit=10" in u for u in requests)

    # Filter by state.
    page.select_option("#trial-state", "pruned")
    page.wait_for_function(
        "document.querySelectorAll('#trials-table tbody tr[data-number]').length === 1"
    )


def test_launch_form_shows_422_next_to_the_field_and_launches(page, dash_server, api, screenshot):
    page.errors.allow("status of 422")  # Chromium logs the rejected POSTs we provoke
    page.goto(dash_server.base_url + "/new")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#f-mode", "ask_tell")
    page.fill("#f-name", "form-launched")
    page.fill("#f-metric", "loss")
    page.select_option("#f-direction", "minimize")
    # A log scale with low <= 0: the API answers 422 with loc body.space.learning_rate.low.
    row = page.locator("#space-table tr.param-row").first
    row.locator(".p-low").fill("0")
    page.click("#launch")
    err = row.locator(".p-low + .field-error")
    err.wait_for(state="visible")
    page.wait_for_function(
        "document.querySelector('#space-table tr.param-row .p-low').classList.contains('invalid')"
    )
    assert err.inner_text().strip()
    assert err.get_attribute("data-error-loc").startswith("space.learning_rate")
    screenshot(page, "new-study-422")

    # A top-level field: n_trials must be >= 1 (pydantic's own 422).
    row.locator(".p-low").fill("0.0001")
    page.fill("#f-ntrials", "0")
    page.click("#launch")
    page.wait_for_function(
        "document.querySelector('#f-ntrials').parentElement.querySelector('.field-error').innerText.length > 0"
    )

    page.fill("#f-ntrials", "12")
    page.click("#launch")
    page.wait_for_url("**/studies/*")
    page.wait_for_selector("body[data-ready='1']")
    assert "form-launched" in page.inner_text("#study-name")
    sid = int(page.url.rstrip("/").rsplit("/", 1)[1])
    created = api.get(f"/studies/{sid}").json()
    assert created["mode"] == "ask_tell"
    assert created["space"]["learning_rate"]["scale"] == "log"
    assert created["space"]["beta"]["scale"] == "one_minus_log"
    assert created["space"]["batch_size"]["type"] == "power_of_two"
    assert created["n_trials"] == 12

    page.goto(dash_server.base_url + "/")
    page.wait_for_selector(f"#studies-table tr[data-study-id='{sid}']")


def test_dataset_upload_form(page, dash_server, api, tmp_path, screenshot):
    csv = tmp_path / "tiny.csv"
    lines = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(40)]
    csv.write_text("\n".join(lines) + "\n")
    page.goto(dash_server.base_url + "/new")
    page.wait_for_selector("body[data-ready='1']")
    page.set_input_files("#u-file", str(csv))
    page.fill("#u-name", "tiny-upload")
    page.click("#upload")
    page.wait_for_function(
        "document.getElementById('upload-result').innerText.includes('tiny-upload')"
    )
    names = [d["name"] for d in api.get("/datasets").json()["items"]]
    assert "tiny-upload" in names
    page.wait_for_selector("#f-dataset option[value='tiny-upload']", state="attached")
    screenshot(page, "new-study")


def test_panda_page_of_a_finished_ask_tell_trial_loads(page, dash_server, studies):
    """The trial view works for any trial; a finished one shows its history and no live stream."""
    trial = studies["c2f"]["best_trial"]
    page.goto(f"{dash_server.base_url}/trials/{trial['id']}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("window.__live && window.__live.state === 'completed'")
    assert page.inner_text("#trial-state") == "completed"
    n = page.evaluate("document.getElementById('plot-live').data[0].x.length")
    assert n == 6
    assert page.is_disabled("#btn-pause")


def test_caviar_study_launched_from_the_form_runs_to_completion(page, dash_server, api, screenshot):
    page.goto(dash_server.base_url + "/new")
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#f-mode", "caviar")
    page.fill("#f-name", "form-caviar")
    page.wait_for_selector("#f-dataset option[value='moons']", state="attached")
    page.select_option("#f-dataset", "moons")
    page.fill("#f-metric", "dev_accuracy")
    page.select_option("#f-direction", "maximize")
    page.fill("#f-fixed", '{"epochs": 3, "layers": [8]}')
    page.select_option("#f-sampler", "random")
    page.select_option("#f-pruner", "none")
    page.fill("#f-ntrials", "3")
    page.fill("#f-workers", "1")
    page.click("#launch")
    page.wait_for_url("**/studies/*")
    sid = int(page.url.rstrip("/").rsplit("/", 1)[1])
    created = api.get(f"/studies/{sid}").json()
    assert created["mode"] == "caviar"
    assert created["objective"]["dataset"] == "moons"

    deadline = time.monotonic() + 120
    study = created
    while study["state"] not in ("completed", "failed", "stopped") and time.monotonic() < deadline:
        time.sleep(0.5)
        study = api.get(f"/studies/{sid}").json()
    assert study["state"] == "completed"
    trials = api.get(f"/studies/{sid}/trials").json()["items"]
    assert len(trials) == 3
    assert all(t["state"] == "completed" and t["value"] is not None for t in trials)
    # The page shows the finished trials once it reloads (auto-refresh or a reload).
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function(
        "document.querySelectorAll('#trials-table tbody tr').length >= 3", timeout=30_000
    )
    screenshot(page, "study-launched-caviar")
