/* Launch a study (space editor, 422s shown next to fields) and upload a dataset. */
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("study-form");
  const spaceBody = document.querySelector("#space-table tbody");
  const TYPES = ["float", "int", "power_of_two", "categorical"];
  const SCALES = { float: ["linear", "log", "one_minus_log"], int: ["linear", "log"], power_of_two: ["log2"], categorical: [] };

  const DEFAULT_SPACE = [
    { name: "learning_rate", type: "float", low: 1e-4, high: 1, scale: "log" },
    { name: "beta", type: "float", low: 0.9, high: 0.999, scale: "one_minus_log" },
    { name: "batch_size", type: "power_of_two", low: 16, high: 256 },
    { name: "optimizer", type: "categorical", choices: "momentum, adam" },
  ];

  function cell(child, loc) {
    const td = HP.el("td", {}, [child, HP.el("span", { className: "field-error" })]);
    if (loc) child.dataset.locKey = loc;
    return td;
  }

  function addRow(p) {
    p = p || { name: "", type: "float", low: "", high: "", scale: "linear" };
    const name = HP.el("input", { className: "p-name", value: p.name, placeholder: "name", "aria-label": "parameter name" });
    const type = HP.el("select", { className: "p-type", "aria-label": "type" }, TYPES.map((t) => HP.el("option", { text: t, value: t })));
    type.value = p.type;
    const low = HP.el("input", { className: "p-low", type: "number", step: "any", value: p.low ?? "", "aria-label": "low" });
    const high = HP.el("input", { className: "p-high", type: "number", step: "any", value: p.high ?? "", "aria-label": "high" });
    const scale = HP.el("select", { className: "p-scale", "aria-label": "scale" });
    const choices = HP.el("input", { className: "p-choices", value: p.choices ?? "", placeholder: "adam, momentum", "aria-label": "choices" });
    const cond = HP.el("input", { className: "p-condition", value: p.condition ?? "", placeholder: '{"optimizer": ["adam"]}', "aria-label": "condition" });
    const del = HP.el("button", { type: "button", className: "p-del", text: "✕", title: "remove" });
    const tr = HP.el("tr", { className: "param-row" }, [
      cell(name, ""), cell(type, "type"), cell(low, "low"), cell(high, "high"),
      cell(scale, "scale"), cell(choices, "choices"), cell(cond, "condition"), HP.el("td", {}, [del]),
    ]);
    const sync = () => {
      const opts = SCALES[type.value];
      const cur = scale.value || p.scale;
      scale.replaceChildren(...opts.map((s) => HP.el("option", { text: s, value: s })));
      if (opts.includes(cur)) scale.value = cur;
      const cat = type.value === "categorical";
      low.disabled = high.disabled = cat;
      scale.disabled = cat || opts.length <= 1;
      choices.disabled = !cat;
    };
    type.addEventListener("change", sync);
    sync();
    if (p.scale && SCALES[p.type].includes(p.scale)) scale.value = p.scale;
    del.addEventListener("click", () => tr.remove());
    spaceBody.append(tr);
    return tr;
  }

  function parseScalar(s) {
    s = s.trim();
    if (s === "true") return true;
    if (s === "false") return false;
    if (s !== "" && !Number.isNaN(Number(s))) return Number(s);
    return s;
  }

  class FieldError extends Error {
    constructor(loc, msg) {
      super(msg);
      this.loc = loc;
    }
  }

  function parseJSON(text, loc) {
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new FieldError(loc, "not valid JSON: " + e.message);
    }
  }

  function num(id) {
    const v = $(id).value.trim();
    return v === "" ? undefined : Number(v);
  }

  function buildSpace() {
    const space = {};
    for (const tr of spaceBody.querySelectorAll("tr.param-row")) {
      const name = tr.querySelector(".p-name").value.trim();
      // data-loc on every cell's control follows the current name, so 422 locs find them.
      for (const ctl of tr.querySelectorAll("[data-loc-key]")) {
        ctl.dataset.loc = "space." + (name || "?") + (ctl.dataset.locKey ? "." + ctl.dataset.locKey : "");
      }
      tr.querySelector(".p-name").dataset.loc = "space." + (name || "?");
      if (!name) throw new FieldError(["space", "?"], "give the parameter a name");
      const type = tr.querySelector(".p-type").value;
      const spec = { type: type };
      if (type === "categorical") {
        spec.choices = tr.querySelector(".p-choices").value.split(",").map(parseScalar).filter((c) => c !== "");
      } else {
        const lo = tr.querySelector(".p-low").value.trim();
        const hi = tr.querySelector(".p-high").value.trim();
        spec.low = lo === "" ? null : Number(lo);
        spec.high = hi === "" ? null : Number(hi);
        if (type !== "power_of_two") spec.scale = tr.querySelector(".p-scale").value;
      }
      const cond = parseJSON(tr.querySelector(".p-condition").value, ["space", name, "condition"]);
      if (cond !== undefined) spec.condition = cond;
      space[name] = spec;
    }
    return space;
  }

  function body() {
    const mode = $("f-mode").value;
    const objective = { metric: $("f-metric").value.trim(), direction: $("f-direction").value };
    const b = { mode: mode, objective: objective };
    if ($("f-name").value.trim()) b.name = $("f-name").value.trim();
    if (mode !== "ask_tell") {
      objective.dataset = $("f-dataset").value;
      if (num("f-human") !== undefined) objective.human_level_error = num("f-human");
      const fixed = parseJSON($("f-fixed").value, ["objective", "fixed"]);
      if (fixed !== undefined) objective.fixed = fixed;
      b.n_workers = num("f-workers");
    }
    if (mode === "panda") {
      b.params = parseJSON($("f-params").value, ["params"]) || {};
    } else {
      b.space = buildSpace();
      const sampler = { type: $("f-sampler").value };
      if (sampler.type === "coarse_to_fine") {
        if (num("f-rounds") !== undefined) sampler.rounds = num("f-rounds");
        if (num("f-top") !== undefined) sampler.top_fraction = num("f-top");
      }
      b.sampler = sampler;
      b.pruner = { type: $("f-pruner").value };
      b.n_trials = num("f-ntrials");
    }
    if (num("f-seed") !== undefined) b.seed = num("f-seed");
    return b;
  }

  function syncMode() {
    const mode = $("f-mode").value;
    for (const e of document.querySelectorAll(".search-only")) e.hidden = mode === "panda";
    for (const e of document.querySelectorAll(".panda-only")) e.hidden = mode !== "panda";
    for (const e of document.querySelectorAll(".engine-only")) e.hidden = mode === "ask_tell";
    for (const e of document.querySelectorAll(".c2f-only")) e.hidden = $("f-sampler").value !== "coarse_to_fine";
    if (mode === "ask_tell" && $("f-metric").value === "dev_accuracy") $("f-metric").value = "value";
  }

  async function loadDatasets(select) {
    try {
      const page = await HP.api("/datasets");
      const sel = $("f-dataset");
      const cur = select || sel.value;
      sel.replaceChildren(...page.items.map((d) => HP.el("option", { value: d.name, text: d.name + (d.builtin ? "" : " (uploaded)") })));
      if (cur && page.items.some((d) => d.name === cur)) sel.value = cur;
      else if (page.items.some((d) => d.name === "moons")) sel.value = "moons";
    } catch (err) {
      HP.banner("Could not list datasets: " + HP.errorText(err));
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const box = $("form-error");
    HP.clearFieldErrors(form, box);
    let b;
    try {
      b = body();
    } catch (err) {
      if (err instanceof FieldError) {
        HP.showFieldErrors(form, [{ loc: ["body"].concat(err.loc), msg: err.message }], box);
        return;
      }
      throw err;
    }
    $("launch").disabled = true;
    try {
      const study = await HP.api("/studies", { method: "POST", json: b });
      window.location.href = HP.base + "/studies/" + study.id;
    } catch (err) {
      if (err instanceof HP.ApiError && err.status === 422) HP.showFieldErrors(form, err.detail, box);
      else {
        box.hidden = false;
        box.textContent = HP.errorText(err);
      }
    } finally {
      $("launch").disabled = false;
    }
  });

  $("upload-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const uform = $("upload-form");
    const box = $("upload-error");
    HP.clearFieldErrors(uform, box);
    $("upload-result").textContent = "";
    const file = $("u-file").files[0];
    if (!file) {
      HP.showFieldErrors(uform, [{ loc: ["body", "file"], msg: "choose a CSV or NPZ file" }], box);
      return;
    }
    const fd = new FormData();
    fd.append("file", file);
    if ($("u-name").value.trim()) fd.append("name", $("u-name").value.trim());
    if ($("u-target").value.trim()) fd.append("target", $("u-target").value.trim());
    if ($("u-task").value) fd.append("task", $("u-task").value);
    try {
      const ds = await HP.api("/datasets", { method: "POST", body: fd });
      $("upload-result").textContent =
        "Uploaded " + ds.name + ": " + ds.n_samples + " samples, " + ds.n_features + " features, " + ds.task + ".";
      await loadDatasets(ds.name);
    } catch (err) {
      if (err instanceof HP.ApiError && err.status === 422) HP.showFieldErrors(uform, err.detail, box);
      else {
        box.hidden = false;
        box.textContent = HP.errorText(err);
      }
    }
  });

  $("add-param").addEventListener("click", () => addRow());
  $("f-mode").addEventListener("change", syncMode);
  $("f-sampler").addEventListener("change", syncMode);
  for (const p of DEFAULT_SPACE) addRow(p);
  syncMode();
  loadDatasets().then(() => {
    document.body.dataset.ready = "1";
  });
})();
