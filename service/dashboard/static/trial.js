/* A trial's live view (Panda): SSE curve over fetch, controls, checkpoints and nudges. */
"use strict";

(() => {
  const root = document.getElementById("trial");
  const trialId = Number(root.dataset.trialId);
  const $ = (id) => document.getElementById(id);
  const PLOT_CONFIG = { displaylogo: false, responsive: true };
  const SERIES = [
    ["train_loss", "train loss", "#1f77b4", "dash", "y"],
    ["dev_loss", "dev loss", "#ff7f0e", "solid", "y"],
    ["value", "value", "#2ca02c", "solid", "y"],
    ["learning_rate", "learning rate", "#7f7f7f", "dot", "y2"],
  ];
  HP.plotly(); // start loading at once: the curve is this page's content
  const st = {
    trial: null,
    epochs: [],
    lastEpoch: -1,
    stream: null,
    streamGen: 0,
    controls: [],
    controlsLoaded: false,
    rollbacksSeen: new Set(), // ids of the rollback controls the curve already reflects
    checkpoints: [],
    ckptTimer: null,
  };
  // rollbacks: times the curve was cut back to a checkpoint; rollbackEpoch: the last cut.
  window.__live = { events: 0, epochs: 0, lastEpoch: -1, state: null, rollbacks: 0, rollbackEvents: 0, rollbackEpoch: null };

  function plot() {
    const traces = SERIES.map(([key, name, color, dash, yaxis]) => ({
      type: "scatter",
      mode: "lines+markers",
      marker: { size: 4 },
      name: name,
      x: [],
      y: [],
      yaxis: yaxis,
      line: { color: color, dash: dash, width: key === "learning_rate" ? 1 : 2 },
      visible: true,
    }));
    Plotly.newPlot(
      $("plot-live"),
      traces,
      {
        margin: { l: 55, r: 60, t: 20, b: 45 },
        xaxis: { title: { text: "epoch" } },
        yaxis: { title: { text: "loss / value" } },
        yaxis2: { title: { text: "learning rate" }, overlaying: "y", side: "right", rangemode: "tozero", exponentformat: "e", showgrid: false },
        legend: { orientation: "h", y: 1.12 },
        hovermode: "x unified",
      },
      PLOT_CONFIG,
    );
  }

  // Epoch events are batched: one extendTraces per ~150 ms however fast the trial runs.
  let pending = [];
  let flushTimer = null;

  function queueEpoch(row) {
    if (row.epoch <= st.lastEpoch) return; // the stream replays what the page already has
    pending.push(row);
    if (!flushTimer) {
      flushTimer = setTimeout(() => {
        flushTimer = null;
        const rows = pending;
        pending = [];
        addEpochs(rows);
      }, 150);
    }
  }

  function addEpochs(rows) {
    rows = rows.filter((r) => r.epoch > st.lastEpoch);
    if (!rows.length) return;
    const xs = SERIES.map(() => []);
    const ys = SERIES.map(() => []);
    for (const r of rows) {
      SERIES.forEach(([key], i) => {
        if (r[key] !== undefined && r[key] !== null) {
          xs[i].push(r.epoch);
          ys[i].push(r[key]);
        }
      });
      st.epochs.push(r);
      st.lastEpoch = r.epoch;
    }
    Plotly.extendTraces($("plot-live"), { x: xs, y: ys }, SERIES.map((_, i) => i));
    showLast();
    if (st.controls.some((c) => c.applied_epoch === null || c.applied_epoch === undefined)) {
      loadControlsSoon();
    }
  }

  function showLast() {
    const last = st.epochs[st.epochs.length - 1];
    $("trial-epoch").textContent = last ? String(last.epoch) : "–";
    if (last && last.learning_rate !== undefined) $("trial-lr").textContent = HP.fmt(last.learning_rate);
    window.__live.epochs = st.epochs.length;
    window.__live.lastEpoch = st.lastEpoch;
    root.dataset.epochs = String(st.epochs.length);
  }

  /**
   * A rollback rewound the trial to the checkpoint of `epoch`: the epochs after it belong to an
   * abandoned timeline. Cut the traces there and follow the stream again from that epoch (the
   * server replays the new timeline's epochs after Last-Event-ID), without reloading the page.
   */
  function rewind(epoch) {
    clearTimeout(flushTimer);
    flushTimer = null;
    pending = []; // queued before the cut: the old timeline (or replayed by the new stream)
    st.epochs = st.epochs.filter((r) => r.epoch <= epoch);
    st.lastEpoch = Math.min(st.lastEpoch, epoch);
    const xs = SERIES.map(() => []);
    const ys = SERIES.map(() => []);
    for (const r of st.epochs) {
      SERIES.forEach(([key], i) => {
        if (r[key] !== undefined && r[key] !== null) {
          xs[i].push(r.epoch);
          ys[i].push(r[key]);
        }
      });
    }
    Plotly.restyle($("plot-live"), { x: xs, y: ys }, SERIES.map((_, i) => i));
    showLast();
    window.__live.rollbacks += 1;
    window.__live.rollbackEpoch = epoch;
    root.dataset.rollbackEpoch = String(epoch);
    startStream(); // a finished trial's stream sends the epochs after the cut, then `end`
  }

  /** The checkpoint a rollback control went back to: the latest one at or before its epoch. */
  function rollbackTarget(c) {
    const asked = Number(c.payload && c.payload.epoch);
    const known = st.checkpoints.filter((e) => e <= asked);
    return known.length ? Math.max(...known) : asked;
  }

  function latestAppliedRollback() {
    const done = st.controls.filter((c) => c.action === "rollback" && c.applied_at);
    return done.length ? done[done.length - 1] : null;
  }

  // The server's `rollback` event says the history now ends at `epoch`; the run may already have
  // redone a few epochs past the checkpoint by then, so the cut goes back to the checkpoint of
  // the rollback control that was applied (cutting too far only costs a replay).
  async function onRollbackEvent(epoch) {
    window.__live.rollbackEvents += 1;
    if (!Number.isFinite(epoch)) epoch = -1; // unknown: follow the whole history again
    if (st.stream) st.stream.abort(); // what it would send next continues the old cut
    st.stream = null;
    await loadControls({ rewinds: false });
    const c = latestAppliedRollback();
    if (c) {
      st.rollbacksSeen.add(c.id);
      epoch = Math.min(epoch, rollbackTarget(c));
    }
    rewind(epoch);
  }

  let controlsTimer = null;
  function loadControlsSoon() {
    if (controlsTimer) return;
    controlsTimer = setTimeout(() => {
      controlsTimer = null;
      loadControls();
    }, 1000);
  }

  function nudgeLabel(c) {
    if (c.action === "set") {
      return "set " + Object.entries(c.payload && c.payload.params ? c.payload.params : {}).map(([k, v]) => k + "=" + HP.fmt(v)).join(", ");
    }
    if (c.action === "rollback") return "rollback → " + (c.payload ? c.payload.epoch : "?");
    return c.action;
  }

  /**
   * Where each control sits on the curve as it is now. A rollback is marked at its checkpoint;
   * the controls applied past that epoch before it belong to the abandoned timeline ("undone":
   * listed, no longer drawn), and those the paused run took in with it act from the checkpoint.
   */
  function nudgePlaces() {
    const places = new Map();
    for (const c of st.controls) {
      const x = c.applied_epoch !== null && c.applied_epoch !== undefined ? c.applied_epoch : c._epochAtSend;
      places.set(c.id, { x: x === undefined ? null : x, undone: false });
    }
    for (const r of st.controls) {
      if (r.action !== "rollback" || !r.applied_at) continue;
      const ck = rollbackTarget(r);
      places.get(r.id).x = ck;
      for (const c of st.controls) {
        const p = places.get(c.id);
        if (c === r || p.x === null) continue;
        if (c.id < r.id && p.x > ck) p.undone = true;
        else if (c.id > r.id && c.applied_epoch !== null && c.applied_epoch === r.applied_epoch) p.x = ck;
      }
    }
    return places;
  }

  function drawNudges() {
    const shapes = [];
    const annotations = [];
    const places = nudgePlaces();
    for (const c of st.controls) {
      const { x, undone } = places.get(c.id);
      if (x === null || undone) continue;
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1, line: { color: "#d62728", width: 1, dash: "dot" } });
      annotations.push({ x: x, xref: "x", y: 1, yref: "paper", text: nudgeLabel(c), showarrow: false, textangle: -90, xanchor: "right", yanchor: "top", font: { size: 10, color: "#d62728" } });
    }
    Plotly.relayout($("plot-live"), { shapes: shapes, annotations: annotations });
    const list = $("nudges");
    list.replaceChildren(
      ...st.controls.map((c) =>
        HP.el("li", {
          className: "nudge" + (places.get(c.id).undone ? " undone" : ""),
          text:
            nudgeLabel(c) +
            (c.applied_epoch !== null && c.applied_epoch !== undefined ? " (applied after epoch " + c.applied_epoch + ")" : c.applied_at ? " (applied)" : " (pending)") +
            (places.get(c.id).undone ? " — undone by a rollback" : ""),
        }),
      ),
    );
  }

  async function loadControls(opts) {
    let res;
    try {
      res = await HP.api("/trials/" + trialId + "/controls");
    } catch (err) {
      return; /* not fatal */
    }
    const sent = new Map(st.controls.map((c) => [c.id, c._epochAtSend]));
    st.controls = res.items.map((c) => Object.assign(c, { _epochAtSend: sent.get(c.id) }));
    drawNudges();
    // A rollback applied since the page loaded whose `rollback` event never came (the run can
    // redo the lost epochs between two polls of the stream): cut the curve all the same. The
    // history the page loaded with already reflects the rollbacks applied before.
    const fresh = st.controls.filter((c) => c.action === "rollback" && c.applied_at && !st.rollbacksSeen.has(c.id));
    const first = !st.controlsLoaded;
    st.controlsLoaded = true;
    // A paused run takes its controls in but rolls back only when it resumes.
    if (!first && !(opts && opts.rewinds === false) && window.__live.state === "paused") return;
    for (const c of fresh) st.rollbacksSeen.add(c.id);
    if (fresh.length && !first && !(opts && opts.rewinds === false)) {
      rewind(Math.min(...fresh.map(rollbackTarget)));
    }
  }

  async function loadCheckpoints() {
    try {
      const res = await HP.api("/trials/" + trialId + "/checkpoints");
      st.checkpoints = res.items;
      const sel = $("rollback-select");
      const cur = sel.value;
      sel.replaceChildren(...res.items.slice().reverse().map((e) => HP.el("option", { value: e, text: "epoch " + e })));
      if (cur && res.items.includes(Number(cur))) sel.value = cur;
      const active = ["running", "paused", "queued"].includes(window.__live.state);
      $("btn-rollback").disabled = !res.items.length || !active;
    } catch (err) {
      /* not fatal */
    }
  }

  function setState(state) {
    HP.setBadge($("trial-state"), state);
    window.__live.state = state;
    root.dataset.state = state;
    const running = state === "running" || state === "paused" || state === "queued";
    $("btn-pause").disabled = state !== "running";
    $("btn-resume").disabled = state !== "paused";
    $("btn-stop").disabled = !running;
    $("btn-set-lr").disabled = !running;
    $("btn-rollback").disabled = !running || !$("rollback-select").options.length;
  }

  // Follows the trial from the last epoch the page has (the server sends the epochs after it).
  function startStream() {
    if (st.stream) st.stream.abort();
    const gen = ++st.streamGen;
    $("stream-state").textContent = "live";
    st.stream = HP.stream(
      "/trials/" + trialId + "/stream",
      (name, data) => {
        if (gen !== st.streamGen) return; // a stream replaced by a newer one
        window.__live.events += 1;
        if (name === "rollback") {
          onRollbackEvent(Number(data.epoch));
        } else if (name === "epoch") {
          queueEpoch(data);
          if (!st.ckptTimer) {
            st.ckptTimer = setTimeout(() => {
              st.ckptTimer = null;
              loadCheckpoints();
            }, 1000);
          }
        } else if (name === "state") {
          setState(data.state);
          loadControls();
        } else if (name === "end") {
          clearTimeout(flushTimer);
          flushTimer = null;
          addEpochs(pending);
          pending = [];
          setState(data.state);
          if (data.value !== null && data.value !== undefined) $("trial-value").textContent = HP.fmt(data.value);
          $("stream-state").textContent = "finished";
          loadControls();
          loadCheckpoints();
        }
      },
      (err) => {
        if (err && gen === st.streamGen) $("stream-state").textContent = "stream closed: " + HP.errorText(err);
      },
      { lastEventId: st.lastEpoch >= 0 ? st.lastEpoch : null },
    );
  }

  async function control(body) {
    const msg = $("control-message");
    HP.clearFieldErrors($("controls"));
    try {
      const res = await HP.api("/trials/" + trialId + "/control", { method: "POST", json: body });
      res._epochAtSend = st.lastEpoch >= 0 ? st.lastEpoch : null;
      st.controls.push(res);
      msg.textContent = "sent: " + nudgeLabel(res);
      drawNudges();
      setTimeout(loadControls, 1500);
      return res;
    } catch (err) {
      if (err instanceof HP.ApiError && Array.isArray(err.detail)) {
        for (const d of err.detail) {
          const key = (d.loc || [])[1];
          const slot = document.querySelector('#controls [data-error-for="' + key + '"]');
          if (slot) slot.textContent = d.msg;
        }
      }
      msg.textContent = "control failed: " + HP.errorText(err);
      return null;
    }
  }

  $("btn-pause").addEventListener("click", () => control({ action: "pause" }));
  $("btn-resume").addEventListener("click", () => control({ action: "resume" }));
  $("btn-stop").addEventListener("click", () => control({ action: "stop" }));
  $("lr-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = Number($("lr-input").value);
    control({ action: "set", params: { learning_rate: v } });
  });
  // The curve is cut when the engine has rolled back (the stream's `rollback` event, or the
  // control seen applied), not when the control is sent: a paused run rolls back on resume.
  $("rollback-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    control({ action: "rollback", epoch: Number($("rollback-select").value) });
  });

  async function main() {
    try {
      const t = await HP.api("/trials/" + trialId);
      st.trial = t;
      $("trial-title").textContent = "Trial #" + t.number + " (id " + t.id + ")";
      const link = $("trial-study");
      link.href = HP.base + "/studies/" + t.study_id;
      link.textContent = "#" + t.study_id;
      $("trial-params").textContent = JSON.stringify(t.params, null, 1);
      if (t.params && t.params.learning_rate !== undefined) $("lr-input").value = t.params.learning_rate;
      if (t.value !== null && t.value !== undefined) $("trial-value").textContent = HP.fmt(t.value);
      setState(t.state);
      await HP.plotly();
      plot();
      addEpochs(t.history || []);
      await Promise.all([loadControls(), loadCheckpoints()]);
      // The stream replays the epochs so far and then follows; the end event closes it.
      startStream();
      document.body.dataset.ready = "1";
    } catch (err) {
      HP.banner("Could not load the trial: " + HP.errorText(err));
    }
  }

  main();
})();
