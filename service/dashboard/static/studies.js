/* Studies list: search, filters, pagination, auto-refresh. */
"use strict";

(() => {
  const PAGE = 25;
  const state = { offset: 0, total: 0, timer: null, seq: 0 };
  const $ = (id) => document.getElementById(id);
  const tbody = document.querySelector("#studies-table tbody");

  function samplerName(s) {
    if (s.mode === "panda") return "— (panda)";
    return (s.sampler && s.sampler.type) || "–";
  }

  function row(s) {
    const p = HP.progress(s);
    const pct = p.total ? Math.min(100, (100 * p.done) / p.total) : 0;
    const bar = HP.el("div", { className: "progress small" }, [
      HP.el("div", { style: "width:" + pct.toFixed(1) + "%" }),
    ]);
    const best = s.best_trial;
    return HP.el("tr", { "data-study-id": s.id }, [
      HP.el("td", { text: s.id }),
      HP.el("td", {}, [HP.el("a", { href: HP.base + "/studies/" + s.id, text: s.name, className: "study-link" })]),
      HP.el("td", { text: s.mode }),
      HP.el("td", {}, [HP.badge(s.state)]),
      HP.el("td", { className: "progress-cell" }, [
        HP.el("span", { className: "progress-text", text: p.done + "/" + p.total }),
        bar,
      ]),
      HP.el("td", {
        className: "num best-value",
        text: best ? HP.fmt(best.value) + " (#" + best.number + ")" : "–",
      }),
      HP.el("td", { text: samplerName(s) }),
      HP.el("td", { text: HP.fmtTime(s.created_at) }),
    ]);
  }

  async function load() {
    const seq = ++state.seq;
    const q = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if ($("search").value.trim()) q.set("q", $("search").value.trim());
    if ($("state-filter").value) q.set("state", $("state-filter").value);
    if ($("mode-filter").value) q.set("mode", $("mode-filter").value);
    try {
      const page = await HP.api("/dashboard/studies?" + q.toString());
      if (seq !== state.seq) return;
      state.total = page.total;
      tbody.replaceChildren(...page.items.map(row));
      if (!page.items.length) {
        tbody.append(HP.el("tr", {}, [HP.el("td", { colspan: 8, className: "muted", text: "No studies." })]));
      }
      const last = Math.min(state.offset + PAGE, page.total);
      $("page-info").textContent = page.total
        ? state.offset + 1 + "–" + last + " of " + page.total
        : "";
      $("studies-count").textContent = page.total + " studies";
      $("prev").disabled = state.offset === 0;
      $("next").disabled = state.offset + PAGE >= page.total;
      document.body.dataset.ready = "1";
    } catch (err) {
      HP.banner("Could not load studies: " + HP.errorText(err));
    }
  }

  function schedule() {
    clearInterval(state.timer);
    if ($("auto-refresh").checked) state.timer = setInterval(load, 5000);
  }

  let debounce = null;
  $("search").addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.offset = 0;
      load();
    }, 250);
  });
  for (const id of ["state-filter", "mode-filter"]) {
    $(id).addEventListener("change", () => {
      state.offset = 0;
      load();
    });
  }
  $("auto-refresh").addEventListener("change", schedule);
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE);
    load();
  });
  $("next").addEventListener("click", () => {
    state.offset += PAGE;
    load();
  });

  load();
  schedule();
})();
