"""Ask/tell through real HTTP against a uvicorn process, on SQLite and Postgres."""

from __future__ import annotations

import concurrent.futures as cf

import httpx
from service_helpers import RECIPE_SPACE

SPACE = RECIPE_SPACE


def make_study(api: httpx.Client, n_trials: int = 5, **extra) -> dict:
    body = {
        "name": "at",
        "mode": "ask_tell",
        "objective": {"metric": "score", "direction": "maximize"},
        "space": SPACE,
        "sampler": {"type": "random"},
        "n_trials": n_trials,
        "seed": 1,
    } | extra
    r = api.post("/studies", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_healthz(server) -> None:
    r = httpx.get(server.base_url + "/healthz")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


def test_ask_report_tell_completes_study(api: httpx.Client) -> None:
    study = make_study(api, n_trials=3)
    assert study["state"] == "running"
    assert study["progress"]["total"] == 0
    values = []
    for i in range(3):
        t = api.post(f"/studies/{study['id']}/ask").json()
        assert t["number"] == i
        assert t["state"] == "running"
        assert set(t["params"]) <= set(SPACE)
        assert 1e-4 <= t["params"]["learning_rate"] <= 1.0
        assert ("beta" in t["params"]) == (t["params"]["optimizer"] == "momentum")
        for epoch in range(1, 4):
            r = api.post(
                f"/trials/{t['id']}/report",
                json={"epoch": epoch, "value": 0.1 * epoch + i, "train_loss": 1.0 / epoch},
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"prune": False}
        v = 0.5 + i
        values.append(v)
        r = api.post(f"/trials/{t['id']}/tell", json={"value": v})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "completed"

    s = api.get(f"/studies/{study['id']}").json()
    assert s["state"] == "completed"
    assert s["progress"]["completed"] == 3
    assert s["progress"]["total"] == 3
    assert s["best_trial"]["value"] == max(values)
    assert s["best_trial"]["number"] == 2

    r = api.post(f"/studies/{study['id']}/ask")
    assert r.status_code == 409
    assert "completed" in r.json()["detail"]

    detail = api.get(f"/trials/{s['best_trial']['id']}").json()
    assert [h["epoch"] for h in detail["history"]] == [1, 2, 3]
    assert detail["history"][0]["train_loss"] == 1.0
    assert detail["history"][2]["value"] == 2.3


def test_ask_beyond_budget_is_409(api: httpx.Client) -> None:
    study = make_study(api, n_trials=2)
    for _ in range(2):
        assert api.post(f"/studies/{study['id']}/ask").status_code == 200
    r = api.post(f"/studies/{study['id']}/ask")
    assert r.status_code == 409
    assert "n_trials=2" in r.json()["detail"]
    # Still running: two trials are out and not yet told.
    assert api.get(f"/studies/{study['id']}").json()["state"] == "running"


def test_tell_failed_and_pruned(api: httpx.Client) -> None:
    study = make_study(api, n_trials=3)
    sid = study["id"]
    a = api.post(f"/studies/{sid}/ask").json()
    b = api.post(f"/studies/{sid}/ask").json()
    api.post(f"/trials/{b['id']}/report", json={"epoch": 1, "value": 0.25})
    r = api.post(f"/trials/{a['id']}/tell", json={"state": "failed", "error": "boom"})
    assert r.json()["state"] == "failed" and r.json()["error"] == "boom"
    r = api.post(f"/trials/{b['id']}/tell", json={"state": "pruned"})
    assert r.json()["state"] == "pruned"
    assert r.json()["value"] == 0.25  # the last intermediate value stands for a pruned trial
    # A finished trial takes no more tells or reports.
    assert api.post(f"/trials/{a['id']}/tell", json={"value": 1.0}).status_code == 409
    assert api.post(f"/trials/{a['id']}/report", json={"epoch": 2, "value": 1}).status_code == 409
    s = api.get(f"/studies/{sid}").json()
    assert s["progress"]["failed"] == 1 and s["progress"]["pruned"] == 1
    assert s["best_trial"] is None
    assert s["state"] == "running"


def test_trial_listing_pagination_filter_sort(api: httpx.Client) -> None:
    study = make_study(api, n_trials=6)
    sid = study["id"]
    values = [0.3, 0.9, 0.1, 0.5]
    for v in values:
        t = api.post(f"/studies/{sid}/ask").json()
        api.post(f"/trials/{t['id']}/tell", json={"value": v})
    t = api.post(f"/studies/{sid}/ask").json()
    api.post(f"/trials/{t['id']}/tell", json={"state": "failed", "error": "x"})
    api.post(f"/studies/{sid}/ask")  # left running

    page = api.get(f"/studies/{sid}/trials", params={"limit": 2, "offset": 0}).json()
    assert page["total"] == 6 and [t["number"] for t in page["items"]] == [0, 1]
    page = api.get(f"/studies/{sid}/trials", params={"limit": 2, "offset": 4}).json()
    assert [t["number"] for t in page["items"]] == [4, 5]

    done = api.get(f"/studies/{sid}/trials", params={"state": "completed", "sort": "-value"}).json()
    assert done["total"] == 4
    assert [t["value"] for t in done["items"]] == sorted(values, reverse=True)
    asc = api.get(f"/studies/{sid}/trials", params={"state": "completed", "sort": "value"}).json()
    assert [t["value"] for t in asc["items"]] == sorted(values)
    best = api.get(f"/studies/{sid}/trials", params={"sort": "best", "limit": 1}).json()
    assert best["items"][0]["value"] == 0.9
    two = api.get(f"/studies/{sid}/trials", params=[("state", "failed"), ("state", "running")])
    assert two.json()["total"] == 2
    assert api.get(f"/studies/{sid}/trials", params={"sort": "bogus"}).status_code == 422
    assert api.get(f"/studies/{sid}/trials", params={"state": "nope"}).status_code == 422
    assert api.get(f"/studies/{sid}/trials", params={"limit": 0}).status_code == 422


def test_list_get_stop_delete(api: httpx.Client) -> None:
    study = make_study(api, n_trials=4)
    sid = study["id"]
    t = api.post(f"/studies/{sid}/ask").json()
    listing = api.get("/studies", params={"limit": 1000}).json()
    assert sid in [s["id"] for s in listing["items"]]
    assert listing["total"] >= 1
    r = api.post(f"/studies/{sid}/stop")
    assert r.status_code == 200 and r.json()["state"] == "stopped"
    assert api.get(f"/trials/{t['id']}").json()["state"] == "stopped"
    assert api.post(f"/studies/{sid}/ask").status_code == 409
    assert api.delete(f"/studies/{sid}").status_code == 204
    assert api.get(f"/studies/{sid}").status_code == 404
    assert api.get(f"/trials/{t['id']}").status_code == 404
    assert api.delete(f"/studies/{sid}").status_code == 404


def test_concurrent_asks_get_distinct_numbers(api: httpx.Client, server) -> None:
    n = 24
    study = make_study(api, n_trials=n)
    sid = study["id"]

    def ask_and_tell(_: int) -> tuple[int, int]:
        with httpx.Client(base_url=server.base_url + "/api/v1", timeout=60) as c:
            r = c.post(f"/studies/{sid}/ask")
            assert r.status_code == 200, r.text
            t = r.json()
            c.post(f"/trials/{t['id']}/report", json={"epoch": 1, "value": 0.5})
            r = c.post(f"/trials/{t['id']}/tell", json={"value": float(t["number"])})
            assert r.status_code == 200, r.text
            return t["number"], t["id"]

    with cf.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(ask_and_tell, range(n)))
    assert sorted(num for num, _ in results) == list(range(n))
    s = api.get(f"/studies/{sid}").json()
    assert s["state"] == "completed"
    assert s["progress"]["completed"] == n
    assert s["best_trial"]["value"] == n - 1
    assert api.post(f"/studies/{sid}/ask").status_code == 409


def test_median_pruner_prunes_bad_trials(api: httpx.Client) -> None:
    study = make_study(
        api, n_trials=8, pruner={"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0}
    )
    sid = study["id"]
    for _ in range(4):
        t = api.post(f"/studies/{sid}/ask").json()
        for epoch in range(1, 4):
            api.post(f"/trials/{t['id']}/report", json={"epoch": epoch, "value": 0.9})
        api.post(f"/trials/{t['id']}/tell", json={"value": 0.9})
    t = api.post(f"/studies/{sid}/ask").json()
    r = api.post(f"/trials/{t['id']}/report", json={"epoch": 1, "value": 0.1})
    assert r.json() == {"prune": True}


def test_not_found(api: httpx.Client) -> None:
    assert api.get("/studies/999999").status_code == 404
    assert api.post("/studies/999999/ask").status_code == 404
    assert api.get("/trials/999999").status_code == 404
    r = api.post("/trials/999999/tell", json={"value": 1})
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_batched_reports_and_tell_with_reports(api: httpx.Client) -> None:
    sid = make_study(api, n_trials=2)["id"]
    t = api.post(f"/studies/{sid}/ask").json()
    batch = [{"epoch": e, "value": 0.1 * e, "train_loss": 1.0 / e} for e in (1, 2, 3)]
    batch.append({"epoch": 2, "value": 0.25})  # a repeated epoch: the last report wins
    r = api.post(f"/trials/{t['id']}/reports", json={"reports": batch})
    assert r.status_code == 200 and r.json() == {"prune": False}
    rest = [{"epoch": 4, "value": 0.4}, {"epoch": 5, "value": 0.5, "dev_loss": 0.2}]
    r = api.post(f"/trials/{t['id']}/tell", json={"value": 0.5, "reports": rest})
    assert r.status_code == 200 and r.json()["state"] == "completed"
    history = api.get(f"/trials/{t['id']}").json()["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]
    assert history[1]["value"] == 0.25 and history[1].get("train_loss") is None
    assert history[2]["train_loss"] == 1.0 / 3
    assert history[4]["dev_loss"] == 0.2
    # Finished: a batch is refused whole, and a bad report in a batch names its place.
    r = api.post(f"/trials/{t['id']}/reports", json={"reports": [{"epoch": 6, "value": 1}]})
    assert r.status_code == 409
    t2 = api.post(f"/studies/{sid}/ask").json()
    bad = {"reports": [{"epoch": 1, "value": 0.1}, {"epoch": 2, "value": "x"}]}
    r = api.post(f"/trials/{t2['id']}/reports", json=bad)
    assert r.status_code == 422 and "reports" in str(r.json()["detail"])
    r = api.post(f"/trials/{t2['id']}/reports", json={"reports": []})
    assert r.status_code == 422
    r = api.post(f"/trials/{t2['id']}/tell", json={"value": 1, "reports": bad["reports"]})
    assert r.status_code == 422
    assert api.get(f"/trials/{t2['id']}").json()["history"] == []  # nothing half-written
    assert api.get(f"/trials/{t2['id']}").json()["state"] == "running"


def test_batched_reports_ask_the_pruner_at_the_latest_epoch(api: httpx.Client) -> None:
    study = make_study(
        api, n_trials=8, pruner={"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0}
    )
    sid = study["id"]
    for _ in range(3):
        t = api.post(f"/studies/{sid}/ask").json()
        batch = [{"epoch": e, "value": 0.9} for e in (1, 2, 3)]
        assert api.post(f"/trials/{t['id']}/reports", json={"reports": batch}).json() == {
            "prune": False
        }
        api.post(f"/trials/{t['id']}/tell", json={"value": 0.9})
    t = api.post(f"/studies/{sid}/ask").json()
    batch = [{"epoch": 1, "value": 0.95}, {"epoch": 2, "value": 0.1}]
    assert api.post(f"/trials/{t['id']}/reports", json={"reports": batch}).json() == {"prune": True}
