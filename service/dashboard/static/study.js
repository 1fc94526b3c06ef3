/* One study: header, server-side sorted/paginated trials table, and the plots. */
"use strict";

(() => {
  const root = document.getElementById("study");
  const studyId = Number(root.dataset.studyId);
  const $ = (id) => document.getElementById(id);
  const PLOT_CONFIG = { displaylogo: false, responsive: true };
  const MAX_CURVES = 10;
  const MAX_PARCOORDS = 1000;

  const st = {
    study: null,
    plot: null,
    sort: "number",
    offset: 0,
    limit: 50,
    stateFilter: "",
    selected: new Map(), // trial id -> number
    curvesTouched: false,
  };
  window.__dash = { ready: null, timings: {} };

  // ----------------------------------------------------------------------- header

  function renderHeader(s) {
    $("study-name").textContent = s.name + " (#" + s.id + ")";
    HP.setBadge($("study-state"), s.state);
    $("study-mode").textContent = s.mode;
    const p = HP.progress(s);
    $("study-progress").textContent = p.done + "/" + p.total;
    $("progress-bar").style.width = (p.total ? (100 * p.done) / p.total : 0).toFixed(1) + "%";
    $("study-sampler").textContent = s.mode === "panda" ? "—" : (s.sampler && s.sampler.type) || "–";
    const obj = s.objective || {};
    $("study-metric").textContent = (obj.metric || "value") + " (" + (obj.direction || "") + ")";
    const best = $("study-best");
    best.replaceChildren();
    if (s.best_trial) {
      best.append(
        HP.fmt(s.best_trial.value) + " ",
        HP.el("a", { href: HP.base + "/trials/" + s.best_trial.id, text: "trial #" + s.best_trial.number }),
      );
    } else best.textContent = "–";
    $("stop-study").hidden = !(s.state === "running" || s.state === "queued");
    if (s.mode === "panda") showPandaLink();
  }

  async function showPandaLink() {
    const page = await HP.api("/studies/" + studyId + "/trials?limit=1");
    if (!page.items.length) return;
    const t = page.items[0];
    const p = $("panda-link");
    p.hidden = false;
    p.replaceChildren(
      "Panda run: ",
      HP.el("a", { href: HP.base + "/trials/" + t.id, text: "open the live view of trial #" + t.number, id: "panda-open" }),
    );
  }

  async function loadStudy() {
    st.study = await HP.api("/studies/" + studyId);
    renderHeader(st.study);
    return st.study;
  }

  $("stop-study").addEventListener("click", async () => {
    try {
      await HP.api("/studies/" + studyId + "/stop", { method: "POST" });
      await loadStudy();
    } catch (err) {
      HP.banner(HP.errorText(err));
    }
  });

  // ----------------------------------------------------------------------- trials table

  function paramNames() {
    if (st.study && st.study.space) return Object.keys(st.study.space);
    if (st.study && st.study.params) return Object.keys(st.study.params);
    return [];
  }

  function sortArrow(key) {
    if (st.sort === key) return " ▲";
    if (st.sort === "-" + key) return " ▼";
    return "";
  }

  // A header the server sorts by (GET .../trials?sort=key or -key): click once ascending, again
  // descending.
  function sortableTh(key, label, extraClass = "") {
    const className = "sortable" + (extraClass ? " " + extraClass : "");
    return HP.el("th", { className, "data-sort": key, text: label + sortArrow(key) });
  }

  function renderHead() {
    const cols = [
      HP.el("th", { text: "curve", title: "overlay the learning curve" }),
      sortableTh("number", "#"),
      sortableTh("state", "state"),
      sortableTh("value", "value"),
      sortableTh("round", "round"),
      sortableTh("duration", "duration"),
    ];
    for (const n of paramNames()) cols.push(sortableTh("param:" + n, n, "param-col"));
    document.querySelector("#trials-table thead").replaceChildren(HP.el("tr", {}, cols));
    for (const th of document.querySelectorAll("#trials-table th.sortable")) {
      th.addEventListener("click", () => {
        const key = th.dataset.sort;
        st.sort = st.sort === key ? "-" + key : key;
        st.offset = 0;
        loadTrials();
      });
    }
  }

  function duration(t) {
    if (!t.started_at) return null;
    const end = t.finished_at ? new Date(t.finished_at) : new Date();
    return (end - new Date(t.started_at)) / 1000;
  }

  function trialRow(t) {
    const box = HP.el("input", { type: "checkbox", className: "curve-pick", "data-trial-id": t.id });
    box.checked = st.selected.has(t.id);
    box.addEventListener("change", () => {
      st.curvesTouched = true;
      if (box.checked) {
        if (st.selected.size >= MAX_CURVES) {
          box.checked = false;
          HP.banner("At most " + MAX_CURVES + " curves at a time.", "info");
          return;
        }
        st.selected.set(t.id, t.number);
      } else st.selected.delete(t.id);
      drawCurves();
    });
    const cells = [
      HP.el("td", {}, [box]),
      HP.el("td", {}, [HP.el("a", { href: HP.base + "/trials/" + t.id, text: String(t.number) })]),
      HP.el("td", {}, [HP.badge(t.state)]),
      HP.el("td", { className: "num value-cell", text: HP.fmt(t.value) }),
      HP.el("td", { className: "num", text: t.round === null || t.round === undefined ? "–" : String(t.round) }),
      HP.el("td", { className: "num", text: HP.fmtDuration(duration(t)) }),
    ];
    for (const n of paramNames()) {
      const v = t.params ? t.params[n] : undefined;
      cells.push(HP.el("td", { className: "num", text: v === undefined ? "" : HP.fmt(v) }));
    }
    const tr = HP.el("tr", { "data-trial-id": t.id, "data-number": t.number }, cells);
    if (t.error) tr.title = t.error;
    return tr;
  }

  function fetchTrials() {
    const q = new URLSearchParams({ limit: st.limit, offset: st.offset, sort: st.sort });
    if (st.stateFilter) q.append("state", st.stateFilter);
    return HP.api("/studies/" + studyId + "/trials?" + q.toString());
  }

  // Clicks on the headers and the auto-refresh can overlap: only the newest request may render,
  // or a slow stale answer would show rows in an order the header no longer says.
  let trialsRequest = 0;
  async function loadTrials(studyLoaded = Promise.resolve()) {
    const mine = ++trialsRequest;
    const [page] = await Promise.all([fetchTrials(), studyLoaded]);
    if (mine === trialsRequest) renderTrials(page);
  }

  function renderTrials(page) {
    renderHead();
    const body = document.querySelector("#trials-table tbody");
    body.replaceChildren(...page.items.map(trialRow));
    if (!page.items.length) {
      body.append(HP.el("tr", {}, [HP.el("td", { colspan: 6 + paramNames().length, className: "muted", text: "No trials." })]));
    }
    const last = Math.min(st.offset + st.limit, page.total);
    $("trials-page-info").textContent = page.total
      ? st.offset + 1 + "–" + last + " of " + page.total
      : "0 trials";
    $("trials-prev").disabled = st.offset === 0;
    $("trials-next").disabled = st.offset + st.limit >= page.total;
    root.dataset.trialsSort = st.sort;
    root.dataset.trialsOffset = String(st.offset);
    return page;
  }

  $("trials-prev").addEventListener("click", () => {
    st.offset = Math.max(0, st.offset - st.limit);
    loadTrials();
  });
  $("trials-next").addEventListener("click", () => {
    st.offset += st.limit;
    loadTrials();
  });
  $("trial-state").addEventListener("change", () => {
    st.stateFilter = $("trial-state").value;
    st.offset = 0;
    loadTrials();
  });
  $("page-size").addEventListener("change", () => {
    st.limit = Number($("page-size").value);
    st.offset = 0;
    loadTrials();
  });

  // ----------------------------------------------------------------------- transforms

  function tx(meta, v) {
    if (v === null || v === undefined) return null;
    if (meta.transform === "one_minus_log") return -Math.log10(1 - v);
    if (meta.transform === "category") return String(v);
    return v;
  }

  function parTx(meta, v) {
    const t = meta.par.transform;
    if (v === null || v === undefined) return null;
    if (t === "category") return meta.choices.findIndex((c) => String(c) === String(v));
    if (t === "log10") return Math.log10(v);
    if (t === "log2") return Math.log2(v);
    if (t === "one_minus_log") return -Math.log10(1 - v);
    return v;
  }

  const roundColor = (r) => HP.COLORS[(r === null || r === undefined ? 0 : r) % HP.COLORS.length];

  // ----------------------------------------------------------------------- plots

  function boxTraces(meta, boxes, yr) {
    const traces = [];
    if (meta.transform === "category") return traces;
    for (const box of boxes) {
      const b = box.params[meta.name];
      if (!b || b.low === undefined) continue;
      const x0 = tx(meta, b.low);
      const x1 = tx(meta, b.high);
      traces.push({
        type: "scatter", mode: "lines", fill: "toself", hoverinfo: "name",
        x: [x0, x1, x1, x0, x0], y: [yr[0], yr[0], yr[1], yr[1], yr[0]],
        line: { width: 1, color: roundColor(box.round), dash: "dot" },
        fillcolor: roundColor(box.round) + "1a",
        name: "round " + box.round + " box", showlegend: false,
      });
    }
    return traces;
  }

  async function paramPlots(pd, boxes) {
    const holder = $("param-plots");
    holder.replaceChildren();
    const T = pd.trials;
    const n = T.number.length;
    $("param-note").textContent =
      (pd.downsampled ? "Showing " + pd.n_shown + " of " + pd.n_total + " trials (the best ones and an even sample of the rest). " : "") +
      (pd.rounds.length > 1 ? "Coloured by coarse-to-fine round; shaded: the box each round sampled." : "");
    const vals = T.value.filter((v) => v !== null);
    const lo = Math.min(...vals);
    const hi = Math.max(...vals);
    const pad = (hi - lo) * 0.05 || 0.05;
    const yr = [lo - pad, hi + pad];
    const rounds = pd.rounds.length ? pd.rounds : [null];
    for (const meta of pd.params) {
      const div = HP.el("div", { id: "plot-param-" + meta.name, className: "plot small", "data-param": meta.name });
      holder.append(div);
      const traces = boxTraces(meta, boxes, yr);
      div.dataset.boxes = String(traces.length);
      for (const r of rounds) {
        const xs = [];
        const ys = [];
        const text = [];
        const symbols = [];
        for (let i = 0; i < n; i++) {
          if (T.value[i] === null) continue;
          if (r !== null && T.round[i] !== r) continue;
          const pv = T.params[meta.name][i];
          if (pv === null || pv === undefined) continue;
          xs.push(tx(meta, pv));
          ys.push(T.value[i]);
          text.push("#" + T.number[i] + " " + meta.name + "=" + HP.fmt(pv) + " (" + T.state[i] + ")");
          symbols.push(T.state[i] === "completed" ? "circle" : "x");
        }
        traces.push({
          type: "scatter", mode: "markers", x: xs, y: ys, text: text, hoverinfo: "text+y",
          name: r === null ? "trials" : "round " + r,
          marker: { size: 6, color: roundColor(r), opacity: 0.75, symbol: symbols },
          showlegend: r !== null && meta === pd.params[0],
        });
      }
      const xaxis = Object.assign({ title: { text: meta.name + (meta.scale !== "linear" && meta.scale !== "categorical" ? " (" + meta.scale + ")" : "") } }, meta.axis);
      const layout = {
        margin: { l: 55, r: 10, t: 10, b: 45 },
        xaxis: xaxis,
        yaxis: { title: { text: pd.metric }, range: yr },
        showlegend: rounds.length > 1 && meta === pd.params[0],
        legend: { orientation: "h", y: 1.15 },
        hovermode: "closest",
      };
      Plotly.newPlot(div, traces, layout, PLOT_CONFIG);
      window.__dash.timings["param:" + meta.name] = performance.now();
      await idle(); // let clicks and scrolling in between the plots
    }
    st.yRange = yr;
  }

  function parcoords(pd) {
    const T = pd.trials;
    const idx = [];
    for (let i = 0; i < T.number.length; i++) if (T.value[i] !== null) idx.push(i);
    if (idx.length > MAX_PARCOORDS) {
      // WebGL lines: keep the best quarter and an even sample of the rest.
      const sign = pd.direction === "minimize" ? 1 : -1;
      const ranked = idx.slice().sort((a, b) => sign * (T.value[a] - T.value[b]));
      const keep = new Set(ranked.slice(0, MAX_PARCOORDS / 4));
      const rest = ranked.slice(MAX_PARCOORDS / 4);
      const step = rest.length / (MAX_PARCOORDS - keep.size);
      for (let k = 0; keep.size < MAX_PARCOORDS && Math.floor(k) < rest.length; k += step) keep.add(rest[Math.floor(k)]);
      idx.splice(0, idx.length, ...Array.from(keep).sort((a, b) => a - b));
    }
    const div = $("plot-parcoords");
    if (!pd.params.length || !idx.length) {
      div.replaceChildren(HP.el("p", { className: "muted", text: "No completed trials with parameters yet." }));
      return;
    }
    const dims = pd.params.map((meta) => {
      const [r0, r1] = meta.par.range;
      const lo = Math.min(r0, r1);
      const hi = Math.max(r0, r1);
      const missing = lo - (hi - lo) * 0.08 - 1e-9;
      const values = idx.map((i) => {
        const v = parTx(meta, T.params[meta.name][i]);
        return v === null || v === -1 && meta.par.transform === "category" ? missing : v;
      });
      const d = { label: meta.name, values: values, range: [missing, hi] };
      if (meta.par.tickvals) {
        d.tickvals = [missing].concat(meta.par.tickvals);
        d.ticktext = ["n/a"].concat(meta.par.ticktext);
      }
      return d;
    });
    dims.push({ label: pd.metric, values: idx.map((i) => T.value[i]) });
    const reverse = pd.direction === "minimize";
    Plotly.newPlot(
      div,
      [{
        type: "parcoords",
        line: { color: idx.map((i) => T.value[i]), colorscale: "Viridis", reversescale: reverse, showscale: true },
        dimensions: dims,
      }],
      { margin: { l: 60, r: 60, t: 40, b: 20 } },
      PLOT_CONFIG,
    );
  }

  function bestPlots(pd) {
    const bn = pd.best_so_far.by_number;
    const bt = pd.best_so_far.by_time;
    const y = { title: { text: "best " + pd.metric } };
    Plotly.newPlot(
      $("plot-best-number"),
      [{ type: "scatter", mode: "lines+markers", line: { shape: "hv" }, x: bn.x, y: bn.best, text: bn.trial_number.map((n) => "trial #" + n), name: "best so far" }],
      { margin: { l: 55, r: 10, t: 10, b: 45 }, xaxis: { title: { text: "trial number" } }, yaxis: y },
      PLOT_CONFIG,
    );
    Plotly.newPlot(
      $("plot-best-time"),
      [{ type: "scatter", mode: "lines+markers", line: { shape: "hv" }, x: bt.x, y: bt.best, text: bt.trial_number.map((n) => "trial #" + n), name: "best so far" }],
      { margin: { l: 55, r: 10, t: 10, b: 45 }, xaxis: { title: { text: "wall time since start (s)" } }, yaxis: y },
      PLOT_CONFIG,
    );
  }

  function diagnosis(pd) {
    const div = $("plot-diagnosis");
    const text = $("diagnosis-text");
    const d = pd.diagnosis;
    if (!d) {
      div.replaceChildren(HP.el("p", { className: "muted", text: "No diagnosis: the best trial has no train/dev error (ask/tell trials report only their value)." }));
      text.replaceChildren();
      return;
    }
    const names = [];
    const vals = [];
    if (d.human_level_error !== null && d.human_level_error !== undefined) {
      names.push("human-level");
      vals.push(d.human_level_error);
    }
    names.push("train error", "dev error");
    vals.push(d.train_error, d.dev_error);
    Plotly.newPlot(
      div,
      [{ type: "bar", x: names, y: vals, text: vals.map((v) => HP.fmt(v)), textposition: "auto", marker: { color: ["#7f7f7f", "#1f77b4", "#ff7f0e"].slice(3 - names.length) } }],
      { margin: { l: 55, r: 10, t: 10, b: 40 }, yaxis: { title: { text: "error" }, rangemode: "tozero" } },
      PLOT_CONFIG,
    );
    const verdicts = {
      high_bias: "High bias (underfitting)",
      high_variance: "High variance (overfitting)",
      high_bias_and_variance: "High bias and high variance",
      ok: "Bias and variance both low",
    };
    const recipe = {
      high_bias: ["Bigger network (more units or layers)", "Train longer", "Try another optimiser (e.g. Adam) or architecture"],
      high_variance: ["More data", "Regularisation (L2, dropout)", "Try another architecture"],
    };
    let advice = Array.isArray(d.advice) && d.advice.length ? d.advice : null;
    if (!advice) {
      advice = [];
      if (d.verdict === "high_bias" || d.verdict === "high_bias_and_variance") advice.push(...recipe.high_bias);
      if (d.verdict === "high_variance" || d.verdict === "high_bias_and_variance") advice.push(...recipe.high_variance);
    }
    text.replaceChildren(
      HP.el("p", {}, [HP.el("b", { id: "diagnosis-verdict", text: verdicts[d.verdict] || d.verdict || "" })]),
      HP.el("p", { text: "avoidable bias: " + HP.fmt(d.avoidable_bias) + " · variance: " + HP.fmt(d.variance) }),
      HP.el("p", { className: "muted", text: "Basic recipe: high bias → bigger network, train longer, another optimiser; high variance → more data, regularisation." }),
      HP.el("ul", { id: "diagnosis-advice" }, advice.map((a) => HP.el("li", { text: a }))),
    );
  }

  async function importance() {
    const div = $("plot-importance");
    try {
      const imp = await HP.api("/studies/" + studyId + "/importance");
      if (!imp.importances.length) {
        div.replaceChildren(HP.el("p", { className: "muted", text: imp.message || "Not enough data." }));
        return;
      }
      const items = imp.importances.slice().reverse();
      Plotly.newPlot(
        div,
        [{ type: "bar", orientation: "h", x: items.map((d) => d.importance), y: items.map((d) => d.name), text: items.map((d) => (100 * d.importance).toFixed(1) + "%"), textposition: "auto" }],
        { margin: { l: 120, r: 10, t: 10, b: 40 }, xaxis: { title: { text: "importance (" + imp.n_used + " trials)" }, range: [0, 1] } },
        PLOT_CONFIG,
      );
    } catch (err) {
      div.replaceChildren(HP.el("p", { className: "error", text: "Importance failed: " + HP.errorText(err) }));
    }
  }

  const curveCache = new Map();
  let curveSeq = 0;

  async function drawCurves() {
    const seq = ++curveSeq;
    await HP.plotly();
    const div = $("plot-curves");
    const ids = Array.from(st.selected.keys());
    const trials = await Promise.all(
      ids.map(async (id) => {
        const cached = curveCache.get(id);
        if (cached && HP.FINISHED.includes(cached.state)) return cached;
        const t = await HP.api("/trials/" + id);
        curveCache.set(id, t);
        return t;
      }),
    );
    if (seq !== curveSeq) return;
    const traces = [];
    trials.forEach((t, k) => {
      const c = HP.COLORS[k % HP.COLORS.length];
      const h = t.history || [];
      const ep = h.map((r) => r.epoch);
      const has = (key) => h.some((r) => r[key] !== undefined && r[key] !== null);
      const series = [];
      if (has("dev_loss")) series.push(["dev_loss", "solid", "dev"]);
      if (has("train_loss")) series.push(["train_loss", "dash", "train"]);
      if (!series.length && has("value")) series.push(["value", "solid", "value"]);
      for (const [key, dash, label] of series) {
        traces.push({
          type: "scatter", mode: "lines", x: ep, y: h.map((r) => r[key]),
          name: "#" + t.number + " " + label, line: { color: c, dash: dash, width: 1.6 },
          legendgroup: "t" + t.id,
        });
      }
      if ((t.state === "pruned" || t.state === "diverged") && h.length && series.length) {
        const last = h[h.length - 1];
        traces.push({
          type: "scatter", mode: "markers+text", x: [last.epoch], y: [last[series[0][0]]],
          marker: { symbol: "x", size: 12, color: c, line: { width: 2 } },
          text: [t.state], textposition: "top center", name: "#" + t.number + " " + t.state,
          legendgroup: "t" + t.id, showlegend: false,
        });
      }
    });
    const ytitle = traces.some((tr) => / (dev|train)$/.test(tr.name)) ? "loss" : "reported value";
    Plotly.react(
      div,
      traces,
      { margin: { l: 55, r: 10, t: 10, b: 45 }, xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: ytitle } }, hovermode: "closest" },
      PLOT_CONFIG,
    );
    div.dataset.trials = ids.join(",");
  }

  async function defaultCurves() {
    if (st.curvesTouched) return;
    const page = await HP.api("/studies/" + studyId + "/trials?sort=best&limit=3");
    const worst = await HP.api("/studies/" + studyId + "/trials?state=pruned&state=diverged&limit=2&sort=-number");
    for (const t of page.items.concat(worst.items)) st.selected.set(t.id, t.number);
    for (const box of document.querySelectorAll(".curve-pick")) {
      box.checked = st.selected.has(Number(box.dataset.trialId));
    }
    await drawCurves();
  }

  const idle = () => new Promise((r) => setTimeout(r, 0));

  async function main() {
    // Start every request at once; the header and the table need neither the plot data nor
    // plotly.js (loaded async), so the page is interactive before the plots are drawn.
    const pdP = HP.api("/studies/" + studyId + "/plot-data");
    const boxesP = HP.api("/studies/" + studyId + "/boxes").catch(() => ({ boxes: [] }));
    let study;
    try {
      // The table's columns come from the study: fetch both at once, render after both.
      const studyP = loadStudy();
      await loadTrials(studyP);
      study = await studyP;
      window.__dash.ready = performance.now();
      document.body.dataset.ready = "1";
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    } catch (err) {
      HP.banner("Could not load the study: " + HP.errorText(err));
      return;
    }
    try {
      const [pd, bx] = await Promise.all([
        pdP,
        boxesP,
        HP.plotly().then(() => {
          window.__dash.timings.plotly = performance.now();
        }),
      ]);
      st.plot = pd;
      if (pd.params.length && pd.trials.value.some((v) => v !== null)) await paramPlots(pd, bx.boxes || []);
      else $("param-note").textContent = study.mode === "panda" ? "A Panda study has one trial: see its live view." : "No completed trials yet.";
      window.__dash.paramPlots = performance.now();
      document.body.dataset.paramPlots = "1";
      await idle();
      bestPlots(pd);
      window.__dash.timings['bestPlots'] = performance.now();
      await idle();
      diagnosis(pd);
      window.__dash.timings['diagnosis'] = performance.now();
      await idle();
      await importance();
      await defaultCurves();
      await idle();
      parcoords(pd); // WebGL: the slowest without a GPU, so last
      window.__dash.timings['parcoords'] = performance.now();
      window.__dash.plots = performance.now();
      document.body.dataset.plotsReady = "1";
    } catch (err) {
      HP.banner("Could not draw the plots: " + HP.errorText(err));
      console.warn(err);
    }
  }

  // Refresh header and table while the study runs (the plots stay as they are until reload).
  setInterval(async () => {
    if (!st.study || !(st.study.state === "running" || st.study.state === "queued")) return;
    try {
      await loadStudy();
      await loadTrials();
    } catch (err) {
      /* transient */
    }
  }, 5000);

  main();
})();
