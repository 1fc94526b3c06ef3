/* hpsearch dashboard: shared helpers (auth, API calls, SSE over fetch, formatting). */
"use strict";

const HP = (() => {
  const base = document.body.dataset.base || "";
  const TOKEN_KEY = "hpsearch_token";

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const t = token();
    if (t) h["Authorization"] = "Bearer " + t;
    return h;
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : "HTTP " + status);
      this.status = status;
      this.detail = detail;
    }
  }

  function banner(msg, kind) {
    const el = document.getElementById("banner");
    if (!el) return;
    if (!msg) {
      el.hidden = true;
      el.textContent = "";
      return;
    }
    el.hidden = false;
    el.className = "banner " + (kind || "error");
    el.textContent = msg;
  }

  /** fetch an /api/v1 path with the bearer token; JSON in and out; throws ApiError. */
  async function api(path, opts) {
    opts = opts || {};
    const init = { method: opts.method || "GET", headers: headers(opts.headers) };
    if (opts.json !== undefined) {
      init.body = JSON.stringify(opts.json);
      init.headers["Content-Type"] = "application/json";
    } else if (opts.body !== undefined) {
      init.body = opts.body;
    }
    if (opts.signal) init.signal = opts.signal;
    const res = await fetch(base + "/api/v1" + path, init);
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = text;
      }
    }
    if (res.status === 401) {
      banner("The API needs a token: enter HPSEARCH_API_TOKEN above and press Save.");
    }
    if (!res.ok) {
      throw new ApiError(res.status, data && data.detail !== undefined ? data.detail : data);
    }
    return data;
  }

  function errorText(err) {
    if (!err) return "";
    if (err instanceof ApiError) {
      const d = err.detail;
      if (Array.isArray(d)) return d.map((x) => (x.loc || []).join(".") + ": " + x.msg).join("; ");
      if (typeof d === "string") return d;
      return "HTTP " + err.status;
    }
    return String(err.message || err);
  }

  /**
   * Server-sent events over fetch() so the Authorization header goes with the request
   * (EventSource cannot send headers, and a token in the URL would leak into logs).
   * onEvent(name, data) per event; returns an AbortController (no event is delivered after
   * its abort()). opts.lastEventId resumes after that event id (the Last-Event-ID header).
   */
  function stream(path, onEvent, onClose, opts) {
    const ctrl = new AbortController();
    const extra = { Accept: "text/event-stream" };
    if (opts && opts.lastEventId !== undefined && opts.lastEventId !== null) {
      extra["Last-Event-ID"] = String(opts.lastEventId);
    }
    (async () => {
      let res;
      try {
        res = await fetch(base + "/api/v1" + path, {
          headers: headers(extra),
          signal: ctrl.signal,
          cache: "no-store",
        });
        if (!res.ok) throw new ApiError(res.status, "stream failed");
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          buf = buf.replace(/\r\n/g, "\n");
          let idx;
          while ((idx = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, idx);
            buf = buf.slice(idx + 2);
            let name = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const c = line.indexOf(":");
              const field = c < 0 ? line : line.slice(0, c);
              let val = c < 0 ? "" : line.slice(c + 1);
              if (val.startsWith(" ")) val = val.slice(1);
              if (field === "event") name = val;
              else if (field === "data") data.push(val);
            }
            if (!data.length) continue;
            let payload = data.join("\n");
            try {
              payload = JSON.parse(payload);
            } catch (e) {
              /* keep the text */
            }
            if (ctrl.signal.aborted) return; // the rest of this chunk is for nobody
            onEvent(name, payload);
          }
        }
        if (onClose) onClose(null);
      } catch (err) {
        if (err && err.name === "AbortError") return;
        if (onClose) onClose(err);
      }
    })();
    return ctrl;
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(digits || 3);
    return v.toPrecision(digits || 4).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  }

  function fmtTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toLocaleString(undefined, { hour12: false });
  }

  function fmtDuration(sec) {
    if (sec === null || sec === undefined) return "–";
    if (sec < 60) return sec.toFixed(sec < 10 ? 2 : 1) + " s";
    const m = Math.floor(sec / 60);
    if (m < 60) return m + " m " + Math.round(sec - 60 * m) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " m";
  }

  const FINISHED = ["completed", "pruned", "diverged", "failed", "stopped"];

  function progress(study) {
    const p = study.progress || {};
    const done = FINISHED.reduce((s, k) => s + (p[k] || 0), 0);
    return { done: done, total: study.n_trials || p.total || 0 };
  }

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "className") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children || []) e.append(c);
    return e;
  }

  function badge(state) {
    return el("span", { className: "badge state-" + state, text: state });
  }

  function setBadge(node, state) {
    node.textContent = state;
    node.className = "badge state-" + state;
  }

  /** Show 422 detail[] messages next to the fields whose data-loc best matches each loc. */
  function showFieldErrors(form, detail, generalBox) {
    clearFieldErrors(form, generalBox);
    const items = Array.isArray(detail) ? detail : [{ loc: [], msg: String(detail) }];
    const targets = Array.from(form.querySelectorAll("[data-loc]"));
    const general = [];
    for (const item of items) {
      const loc = (item.loc || []).filter((p, i) => !(i === 0 && p === "body")).map(String);
      let best = null;
      let bestLen = -1;
      for (const t of targets) {
        const parts = t.dataset.loc.split(".");
        if (parts.length > loc.length || parts.length <= bestLen) continue;
        if (parts.every((p, i) => p === loc[i])) {
          best = t;
          bestLen = parts.length;
        }
      }
      if (best) {
        let slot = best.classList.contains("field-error") ? best : null;
        if (!slot) {
          const holder = best.closest(".row, td") || best.parentElement;
          slot = holder.querySelector(".field-error");
          if (!slot) {
            slot = el("span", { className: "field-error" });
            best.after(slot);
          }
          best.classList.add("invalid");
          best.setAttribute("aria-invalid", "true");
        }
        slot.textContent = (slot.textContent ? slot.textContent + "; " : "") + item.msg;
        slot.dataset.errorLoc = loc.join(".");
      } else {
        general.push((loc.length ? loc.join(".") + ": " : "") + item.msg);
      }
    }
    if (generalBox && general.length) {
      generalBox.hidden = false;
      generalBox.textContent = general.join("\n");
    }
  }

  function clearFieldErrors(form, generalBox) {
    for (const s of form.querySelectorAll(".field-error")) {
      s.textContent = "";
      delete s.dataset.errorLoc;
    }
    for (const s of form.querySelectorAll(".invalid")) {
      s.classList.remove("invalid");
      s.removeAttribute("aria-invalid");
    }
    if (generalBox) {
      generalBox.hidden = true;
      generalBox.textContent = "";
    }
  }

  function setupLogin() {
    const form = document.getElementById("login");
    const input = document.getElementById("token-input");
    const state = document.getElementById("token-state");
    if (!form) return;
    const show = () => {
      state.textContent = token() ? "token set" : "";
    };
    show();
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = input.value.trim();
      if (v) sessionStorage.setItem(TOKEN_KEY, v);
      else sessionStorage.removeItem(TOKEN_KEY);
      input.value = "";
      banner(null);
      show();
      window.location.reload();
    });
  }

  let plotlyPromise = null;

  /**
   * Load plotly.js (4.8 MB, served from the plotly Python package) on demand and resolve with
   * it. Pages call this after their first render, so the header and the tables are usable
   * before the browser spends its time evaluating the bundle.
   */
  function plotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    if (!plotlyPromise) {
      plotlyPromise = new Promise((resolve, reject) => {
        const tag = document.createElement("script");
        tag.id = "plotly-js";
        tag.src = document.body.dataset.plotlySrc;
        tag.async = true;
        tag.addEventListener("load", () => resolve(window.Plotly));
        tag.addEventListener("error", () => reject(new Error("plotly.js failed to load")));
        document.head.append(tag);
      });
    }
    return plotlyPromise;
  }

  const COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  ];

  document.addEventListener("DOMContentLoaded", setupLogin);

  return {
    base, token, headers, api, stream, ApiError, errorText, banner, fmt, fmtTime, fmtDuration,
    progress, el, badge, setBadge, showFieldErrors, clearFieldErrors, COLORS, FINISHED, plotly,
  };
})();
