// app.js: the Logos dashboard. It signs in with a Logos key kept in
// sessionStorage and reads everything from the /logosdb endpoints, which
// scope every answer to the key (an admin sees all processes). Pages are
// chosen by the URL hash: #/overview, #/models, #/requests[/<id>], #/spending,
// #/jobs, with options as a query string after the page (#/requests?outcome=error).
"use strict";

(() => {
  const KEY = "logos_key";
  const $ = (sel) => document.querySelector(sel);
  const state = { key: sessionStorage.getItem(KEY) || "", role: "", timers: [], queue: [] };

  class APIError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // api posts body to /logosdb/<name> with the key and returns the JSON answer.
  async function api(name, body) {
    const resp = await fetch("/logosdb/" + name, {
      method: "POST",
      headers: { "Authorization": "Bearer " + state.key, "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
    });
    let data = null;
    try { data = await resp.json(); } catch (_) { /* not JSON */ }
    if (!resp.ok) {
      const msg = (data && data.error && data.error.message) || resp.statusText;
      if (resp.status === 401) signOut(msg);
      throw new APIError(resp.status, msg);
    }
    return data;
  }

  // ---- DOM helpers --------------------------------------------------------

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
      else if (k === "class") e.className = v;
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }

  function panel(title, ...body) {
    return h("div", { class: "panel" }, h("h3", {}, title), ...body);
  }

  function chartBox(id) { return h("div", { class: "chart-box", id }); }

  function errorBox(err) {
    return h("p", { class: "error", role: "alert" }, err instanceof Error ? err.message : String(err));
  }

  function select(name, value, options) {
    return h("label", {}, name, h("select", { "data-opt": name.toLowerCase() },
      options.map(([v, label]) => h("option", { value: v, selected: String(v) === String(value) }, label))));
  }

  const fmtNum = (v) => (v == null ? "–" : Number(v).toLocaleString());
  const fmtMs = (v) => (v == null ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : v + " ms");
  const fmtTime = (s) => (s ? new Date(s).toLocaleString() : "–");
  const fmtMoney = (micros, cur) => (micros / 1e6).toFixed(4) + " " + (cur || "");

  // table renders rows with sortable columns and pages of pageSize rows.
  // columns: [{key, label, num?, fmt?(v, row)}]; onRow(row) makes rows links.
  function table(columns, rows, opts) {
    opts = opts || {};
    const pageSize = opts.pageSize || 25;
    const wrap = h("div", { class: "table-wrap" });
    let sortKey = opts.sortKey || null, asc = opts.asc !== undefined ? opts.asc : true, page = 0;
    function render() {
      wrap.textContent = "";
      const sorted = rows.slice();
      if (sortKey) {
        sorted.sort((a, b) => {
          const x = a[sortKey], y = b[sortKey];
          const c = x == null ? -1 : y == null ? 1 : typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
      }
      const pages = Math.max(1, Math.ceil(sorted.length / pageSize));
      page = Math.min(page, pages - 1);
      const head = h("tr", {}, columns.map((c) => h("th", {
        class: [c.num ? "num" : "", sortKey === c.key ? (asc ? "sorted-asc" : "sorted-desc") : ""].join(" ").trim(),
        "data-key": c.key,
        on: { click: () => { if (sortKey === c.key) asc = !asc; else { sortKey = c.key; asc = true; } render(); } },
      }, c.label)));
      const body = sorted.slice(page * pageSize, (page + 1) * pageSize).map((r) => h("tr", {
        class: opts.onRow ? "link" : "", on: opts.onRow ? { click: () => opts.onRow(r) } : {},
        "data-id": opts.rowId ? opts.rowId(r) : null,
      }, columns.map((c) => {
        const v = c.fmt ? c.fmt(r[c.key], r) : r[c.key];
        return h("td", { class: c.num ? "num" : (c.cls ? c.cls(r) : "") }, v == null ? "–" : v);
      })));
      wrap.append(h("table", {}, h("thead", {}, head), h("tbody", {}, body.length ? body : h("tr", {}, h("td", { colspan: columns.length, class: "note" }, opts.empty || "Nothing to show")))));
      wrap.append(h("div", { class: "pager" },
        h("button", { type: "button", disabled: page === 0, on: { click: () => { page--; render(); } } }, "‹ Prev"),
        h("span", { class: "page-info" }, `Page ${page + 1} of ${pages} · ${rows.length} rows`),
        h("button", { type: "button", disabled: page >= pages - 1, on: { click: () => { page++; render(); } } }, "Next ›")));
    }
    render();
    return wrap;
  }

  // ---- routing ------------------------------------------------------------

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "");
    const [path, query] = raw.split("?");
    const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    return { page: parts[0] || "overview", arg: parts[1] || "", params: new URLSearchParams(query || "") };
  }

  function setParams(page, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== "" && v != null) q.set(k, v);
    location.hash = "#/" + page + (q.toString() ? "?" + q : "");
  }

  const pages = { overview, models, requests, spending, jobs };

  async function route() {
    for (const t of state.timers) clearInterval(t);
    state.timers = [];
    if (!state.key) { showSignIn(); return; }
    const { page, arg, params } = parseHash();
    document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
    const root = $("#page");
    root.textContent = "";
    root.removeAttribute("data-loaded");
    const fn = pages[page] || overview;
    try {
      await fn(root, params, arg);
    } catch (err) {
      root.append(errorBox(err));
    }
    root.setAttribute("data-loaded", page);
  }

  // ---- sign-in ------------------------------------------------------------

  function showSignIn(msg) {
    $("#signin").hidden = false;
    $("#nav").hidden = true;
    $("#signout").hidden = true;
    $("#who").textContent = "";
    $("#page").textContent = "";
    $("#signin-error").textContent = msg || "";
  }

  function signOut(msg) {
    sessionStorage.removeItem(KEY);
    state.key = "";
    state.role = "";
    showSignIn(msg);
  }

  async function signIn(key) {
    state.key = key;
    try {
      const role = await api("get_role", {});
      const pid = await api("get_process_id", {});
      state.role = role.role;
      state.processID = pid.result;
      sessionStorage.setItem(KEY, key);
      $("#signin").hidden = true;
      $("#nav").hidden = false;
      $("#signout").hidden = false;
      $("#who").textContent = `${state.role} · process ${state.processID}`;
      await route();
    } catch (err) {
      if (state.key) signOut(err.message);
    }
  }

  const isAdmin = () => state.role === "admin";

  // ---- overview -----------------------------------------------------------

  const RANGES = [["1", "Last 24 hours"], ["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]];

  // buckets returns the bucket starts (ms) from the bucket holding from to now.
  function bucketStarts(from, to, interval) {
    const step = interval === "day" ? 86400e3 : 3600e3;
    const out = [];
    for (let t = Math.floor(from / step) * step; t < to; t += step) out.push(t);
    return out;
  }

  async function overview(root, params) {
    const days = Number(params.get("range") || "1");
    let interval = params.get("bucket") || (days > 30 ? "day" : "hour");
    if (days > 30) interval = "day"; // hourly series stay within ~720 points
    const group = params.get("group") || "model";
    const to = Date.now(), from = to - days * 86400e3;
    const pid = params.get("process_id") || "";
    const upd = (k) => (ev) => { const p = Object.fromEntries(params); p[k] = ev.target.value; setParams("overview", p); };
    const controls = h("div", { class: "controls" },
      select("Range", days, RANGES), select("Bucket", interval, [["hour", "Hour"], ["day", "Day"]]),
      select("Group", group, [["model", "Model"], ["provider", "Provider"], ["process", "Process"]]));
    controls.querySelectorAll("select").forEach((s) => s.addEventListener("change", upd(s.dataset.opt === "range" ? "range" : s.dataset.opt)));
    root.append(h("h2", {}, "Overview"), controls);

    const base = { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    if (pid) base.process_id = Number(pid);
    const [grouped, totals, lat] = await Promise.all([
      api("usage_stats", Object.assign({ interval, group_by: [group] }, base)),
      api("usage_stats", Object.assign({ interval }, base)),
      api("latency_stats", Object.assign({ target_buckets: Math.min(days * (interval === "day" ? 1 : 24), 720) }, base)),
    ]);
    const starts = bucketStarts(from, to, interval);
    const dom = [starts[0], starts[starts.length - 1]];
    const gkey = group === "process" ? "process_id" : group;

    // Totals and cards.
    let req = 0, err = 0, tok = 0;
    const costByCur = {};
    for (const b of totals.buckets) { req += b.requests; err += b.errors; tok += b.tokens; if (b.currency) costByCur[b.currency] = (costByCur[b.currency] || 0) + b.cost_micros; }
    const cur = Object.keys(costByCur).sort((a, b) => costByCur[b] - costByCur[a])[0] || "";
    root.append(h("div", { class: "cards" },
      h("div", { class: "card" }, h("b", { id: "total-requests" }, fmtNum(req)), h("span", {}, "requests")),
      h("div", { class: "card" }, h("b", {}, fmtNum(tok)), h("span", {}, "tokens")),
      h("div", { class: "card" }, h("b", {}, cur ? fmtMoney(costByCur[cur], cur) : "–"), h("span", {}, "cost")),
      h("div", { class: "card" }, h("b", {}, req ? (100 * err / req).toFixed(1) + " %" : "–"), h("span", {}, "error rate"))));

    // Series per group, top 8 by requests.
    const groups = new Map();
    for (const b of grouped.buckets) {
      const k = String(b[gkey] === "" || b[gkey] === 0 ? (group === "provider" ? "(no provider)" : "(none)") : (group === "process" ? "process " + b[gkey] : b[gkey]));
      if (!groups.has(k)) groups.set(k, { req: new Map(), tok: new Map(), cost: new Map(), n: 0 });
      const g = groups.get(k), t = Date.parse(b.start);
      g.n += b.requests;
      g.req.set(t, (g.req.get(t) || 0) + b.requests);
      g.tok.set(t, (g.tok.get(t) || 0) + b.tokens);
      if (!cur || b.currency === cur) g.cost.set(t, (g.cost.get(t) || 0) + b.cost_micros / 1e6);
    }
    const top = [...groups.entries()].sort((a, b) => b[1].n - a[1].n).slice(0, 8);
    const series = (field) => top.map(([name, g]) => ({ name, points: starts.map((t) => [t, g[field].get(t) || 0]) }));
    const grid = h("div", { class: "grid" });
    root.append(grid);
    const add = (title, id, note) => { const box = chartBox(id); grid.append(panel(title, box, note ? h("p", { class: "note" }, note) : null)); return box; };
    const unitLabel = interval === "day" ? "per day" : "per hour";
    LogosChart.line(add(`Requests ${unitLabel} by ${group}`, "chart-requests"), { unit: "", x: dom, series: series("req") });
    LogosChart.line(add(`Tokens ${unitLabel} by ${group}`, "chart-tokens"), { unit: "tok", x: dom, series: series("tok") });
    LogosChart.line(add(`Cost ${unitLabel} by ${group}`, "chart-cost", Object.keys(costByCur).length > 1 ? `Shown in ${cur}; other currencies are left out.` : null),
      { unit: "cur:" + (cur || "EUR"), x: dom, series: series("cost") });
    const tot = new Map();
    for (const b of totals.buckets) { const t = Date.parse(b.start); const o = tot.get(t) || { r: 0, e: 0 }; o.r += b.requests; o.e += b.errors; tot.set(t, o); }
    LogosChart.line(add("Error rate", "chart-errors", "Requests that did not succeed, as a share of all requests in the bucket."),
      { unit: "%", x: dom, series: [{ name: "error rate", color: "#dc2626", points: starts.map((t) => { const o = tot.get(t); return [t, o && o.r ? 100 * o.e / o.r : null]; }) }] });
    const lp = (k) => lat.series.map((p) => [Date.parse(p.start), p[k]]);
    LogosChart.line(add("Time to first token", "chart-ttft", `p50 and p95 per ${lat.bucket_seconds / 60}-minute bucket, from receipt by Logos.`),
      { unit: "ms", x: dom, series: [{ name: "TTFT p50", points: lp("ttft_p50_ms"), color: "#2563eb" }, { name: "TTFT p95", points: lp("ttft_p95_ms"), color: "#2563eb", dashed: true }] });
    LogosChart.line(add("Latency", "chart-latency", "Receipt to completion, p50 and p95."),
      { unit: "ms", x: dom, series: [{ name: "latency p50", points: lp("latency_p50_ms"), color: "#7c3aed" }, { name: "latency p95", points: lp("latency_p95_ms"), color: "#7c3aed", dashed: true }] });
  }

  // ---- models & providers -------------------------------------------------

  async function models(root) {
    root.append(h("h2", {}, "Models & providers"));
    const [ms, ps] = await Promise.all([api("get_models", {}), api("get_providers", {})]);
    root.append(panel("Models", table([
      { key: "id", label: "ID", num: true }, { key: "name", label: "Name" }, { key: "weight_privacy", label: "Privacy" },
      { key: "parallel", label: "Parallel", num: true }, { key: "context_window", label: "Context", num: true },
      { key: "tags", label: "Tags" }, { key: "description", label: "Description" },
    ], ms.models, { sortKey: "id", empty: "No models" })));
    root.append(panel("Providers", table([
      { key: "id", label: "ID", num: true }, { key: "name", label: "Name" }, { key: "kind", label: "Kind" },
      { key: "base_url", label: "Base URL" }, { key: "privacy", label: "Privacy" },
      { key: "parallel_capacity", label: "Capacity", num: true }, { key: "total_vram_mb", label: "VRAM (MiB)", num: true },
      { key: "has_api_key", label: "Key set", fmt: (v) => (v ? "yes" : "no") },
    ], ps.providers, { sortKey: "id", empty: "No providers" })));

    const depBox = h("div", {}), queueBox = chartBox("chart-queue");
    const grid = h("div", { class: "grid" });
    root.append(panel("Deployments", depBox), grid);
    grid.append(panel("Queue depth", queueBox,
      h("p", { class: "note" }, "Sampled from /logosdb/scheduler_state every 2 s while this page is open (the server keeps no queue history).")));
    const sample = async () => {
      let st;
      try { st = await api("scheduler_state", {}); } catch (err) {
        depBox.textContent = "";
        depBox.append(err.status === 403 ? h("p", { class: "note" }, "Deployment state and queues are shown to admin keys only.") : errorBox(err));
        LogosChart.line(queueBox, { unit: "", series: [], empty: err.status === 403 ? "Admin keys only" : "Scheduler state unavailable" });
        return false;
      }
      const rows = Object.entries(st.deployments).map(([id, d]) => Object.assign({ id: Number(id) }, d));
      depBox.textContent = "";
      depBox.append(table([
        { key: "id", label: "Deployment", num: true }, { key: "model_name", label: "Model" }, { key: "provider_name", label: "Provider" },
        { key: "active", label: "Active", num: true },
        { key: "max_capacity", label: "Capacity", num: true, fmt: (v) => (v ? v : "unlimited") },
        { key: "queue_depth", label: "Queued", num: true },
      ], rows, { sortKey: "id", empty: "The scheduler has no deployments yet" }));
      state.queue.push([Date.now(), st.queue_total]);
      if (state.queue.length > 900) state.queue.shift();
      LogosChart.line(queueBox, { unit: "", x: [Date.now() - 600e3, Date.now()], series: [{ name: "queued requests", points: state.queue.slice() }] });
      return true;
    };
    if (await sample()) state.timers.push(setInterval(sample, 2000));

    // VRAM per Ollama provider, today (UTC).
    const day = new Date().toISOString().slice(0, 10);
    const vram = h("div", { id: "vram" });
    grid.append(panel(`VRAM per Ollama provider (${day}, UTC)`, vram));
    let data = null;
    try { data = await api("get_ollama_vram_stats", { day }); } catch (err) {
      if (err.status !== 404) { vram.append(errorBox(err)); return; }
    }
    if (!data || !data.providers.length) {
      const box = chartBox("chart-vram-empty");
      vram.append(box, h("p", { class: "note" }, "No VRAM snapshots today. They appear once Logos polls an Ollama provider (providers of kind ollama with a reachable admin URL)."));
      LogosChart.line(box, { unit: "MiB", series: [], empty: "No VRAM data yet" });
      return;
    }
    for (const p of data.providers) {
      const box = chartBox("chart-vram-" + p.provider_id);
      vram.append(h("h3", {}, p.name), box);
      const pts = (k) => p.data.map((d) => [Date.parse(d.timestamp), d[k]]);
      LogosChart.line(box, { unit: "MiB", series: [{ name: "used", points: pts("used_vram_mb") }, { name: "capacity", points: pts("total_vram_mb"), dashed: true, color: "#64748b" }] });
    }
  }

  // ---- requests -----------------------------------------------------------

  async function requests(root, params, id) {
    if (id) return requestDetail(root, id);
    root.append(h("h2", {}, "Requests"));
    const days = Number(params.get("range") || "1");
    const f = { model: params.get("model") || "", outcome: params.get("outcome") || "", status_code: params.get("status") || "", process_id: params.get("process_id") || "" };
    const ms = await api("get_models", {});
    const form = h("form", { class: "controls" },
      select("Range", days, RANGES),
      select("Model", f.model, [["", "any"], ...ms.models.map((m) => [m.name, m.name])]),
      select("Outcome", f.outcome, [["", "any"], ...["success", "error", "timeout", "cancelled", "rejected"].map((o) => [o, o])]),
      h("label", {}, "Status", h("input", { name: "status", value: f.status_code, inputmode: "numeric", size: 5 })),
      isAdmin() ? h("label", {}, "Process (key)", h("input", { name: "process_id", value: f.process_id, inputmode: "numeric", size: 6 })) : null,
      h("button", { type: "submit" }, "Filter"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = (sel) => form.querySelector(sel) ? form.querySelector(sel).value : "";
      setParams("requests", { range: v("[data-opt=range]"), model: v("[data-opt=model]"), outcome: v("[data-opt=outcome]"), status: v("[name=status]"), process_id: v("[name=process_id]") });
    });
    root.append(form);
    const body = { from: new Date(Date.now() - days * 86400e3).toISOString(), limit: 500 };
    if (f.model) body.model = f.model;
    if (f.outcome) body.outcome = f.outcome;
    if (f.status_code) body.status_code = Number(f.status_code);
    if (f.process_id) body.process_id = Number(f.process_id);
    const list = await api("list_requests", body);
    root.append(panel("Latest requests", table([
      { key: "received_at", label: "Received", fmt: fmtTime }, { key: "request_id", label: "Request" },
      { key: "process_id", label: "Process", num: true }, { key: "model", label: "Model" }, { key: "provider", label: "Provider" },
      { key: "status_code", label: "Status", num: true }, { key: "outcome", label: "Outcome", cls: (r) => "outcome-" + r.outcome },
      { key: "ttft_ms", label: "TTFT", num: true, fmt: fmtMs }, { key: "latency_ms", label: "Latency", num: true, fmt: fmtMs },
      { key: "tokens", label: "Tokens", num: true, fmt: fmtNum }, { key: "cost_micros", label: "Cost", num: true, fmt: (v, r) => fmtMoney(v, r.currency) },
    ], list.requests, { sortKey: "received_at", asc: false, onRow: (r) => { location.hash = "#/requests/" + encodeURIComponent(r.request_id); }, rowId: (r) => r.request_id, empty: "No requests match" }),
    list.truncated ? h("p", { class: "note" }, "Only the newest 500 matching requests are shown; narrow the range or filters.") : null));
  }

  async function requestDetail(root, id) {
    root.append(h("p", {}, h("a", { href: "#/requests" }, "‹ All requests")), h("h2", {}, "Request " + id));
    const { request: r } = await api("get_request", { request_id: id });
    const rows = [
      ["Received", fmtTime(r.received_at)], ["Forwarded", fmtTime(r.forwarded_at)], ["First token", fmtTime(r.first_token_at)],
      ["Completed", fmtTime(r.completed_at)], ["Process", r.process_id], ["Model", r.model], ["Provider", r.provider],
      ["Operation", r.operation + (r.stream ? " (stream)" : "")], ["Status", r.status_code + " " + r.outcome],
      ["TTFT", fmtMs(r.ttft_ms)], ["Latency", fmtMs(r.latency_ms)], ["Queue", fmtMs(r.queue_ms)], ["Cold start", r.cold_start ? "yes" : "no"],
      ["Cost", fmtMoney(r.cost_micros, r.currency)], ["Log level", r.log_level], ["Client request id", r.client_request_id || "–"],
      ["Error", r.error_message || "–"],
    ];
    root.append(panel("Record", h("table", { id: "record" }, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))))));
    root.append(panel("Tokens", table([{ key: "type", label: "Type" }, { key: "count", label: "Count", num: true }, { key: "cost_micros", label: "Cost", num: true, fmt: (v) => fmtMoney(v, r.currency) }], r.token_counts || [])));
    const pre = (v) => h("pre", {}, typeof v === "string" ? v : JSON.stringify(v, null, 2));
    if (r.request_payload == null && r.response_payload == null) {
      root.append(panel("Payloads", h("p", { class: "note", id: "no-payloads" }, "Payloads are stored only when the process's log level is FULL.")));
    } else {
      root.append(panel("Request payload", pre(r.request_payload)), panel("Response payload", pre(r.response_payload)));
      if (r.request_headers) root.append(panel("Request headers (credentials redacted when stored)", pre(r.request_headers)));
    }
    if (r.classification) root.append(panel("Classification", pre(r.classification)));
  }

  // ---- spending -----------------------------------------------------------

  async function spending(root) {
    root.append(h("h2", {}, "Spending"));
    const now = new Date();
    const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
    const [b, byProcess, byUser, prices] = await Promise.all([
      api("get_budgets", {}).catch((err) => ({ error: err })),
      api("usage_stats", { from: month, group_by: ["process"] }),
      api("usage_stats", { from: month, group_by: ["user"] }),
      api("get_prices", {}),
    ]);
    const grid = h("div", { class: "grid" });
    root.append(grid);
    const bbox = chartBox("chart-budgets");
    grid.append(panel("Budgets: spent in the current period against the limit", bbox));
    if (b.error) {
      bbox.append(errorBox(b.error));
    } else {
      const label = (x) => (x.process_id ? "process " + x.process_id : "user " + x.user_id) + " · " + x.period;
      LogosChart.bars(bbox, {
        unit: "cur:" + ((b.budgets[0] && b.budgets[0].currency) || "EUR"), labels: b.budgets.map(label), empty: "No budgets set",
        series: [{ name: "spent", values: b.budgets.map((x) => (x.spent_micros || 0) / 1e6), color: "#dc2626" }, { name: "limit", values: b.budgets.map((x) => x.limit_micros / 1e6), color: "#94a3b8" }],
      });
      bbox.parentNode.append(table([
        { key: "budget-id", label: "ID", num: true }, { key: "process_id", label: "Process", num: true }, { key: "user_id", label: "User", num: true },
        { key: "period", label: "Period" }, { key: "spent", label: "Spent", num: true }, { key: "limit", label: "Limit", num: true },
        { key: "currency", label: "Currency" }, { key: "period_end", label: "Period ends", fmt: fmtTime },
        { key: "spent_micros", label: "Used", num: true, fmt: (v, x) => (x.limit_micros ? (100 * (v || 0) / x.limit_micros).toFixed(1) + " %" : "–") },
      ], b.budgets, { sortKey: "budget-id", empty: "No budgets set" }));
    }
    const spendChart = (id, title, data, key, prefix) => {
      const box = chartBox(id);
      grid.append(panel(title, box));
      const cur = (data.buckets.find((x) => x.currency) || {}).currency || "EUR";
      const rows = data.buckets.filter((x) => x.currency === cur || !x.currency);
      LogosChart.bars(box, { unit: "cur:" + cur, labels: rows.map((x) => (x[key] ? prefix + " " + x[key] : key === "user_id" ? "no user (services)" : "(none)")), series: [{ name: "cost this month", values: rows.map((x) => x.cost_micros / 1e6) }], empty: "No spending this month" });
    };
    spendChart("chart-spend-process", "Spend this month per process (key)", byProcess, "process_id", "process");
    spendChart("chart-spend-user", "Spend this month per user", byUser, "user_id", "user");
    root.append(panel("Prices in force", table([
      { key: "token_type", label: "Token type" }, { key: "model", label: "Model", fmt: (v) => v || "any" },
      { key: "provider", label: "Provider", fmt: (v) => v || "any" }, { key: "per_million", label: "Per million tokens", num: true },
      { key: "currency", label: "Currency" }, { key: "valid_from", label: "Valid from", fmt: fmtTime },
    ], prices.prices, { sortKey: "token_type", empty: "No prices set" })));
  }

  // ---- jobs ---------------------------------------------------------------

  const JOB_STATUSES = ["pending", "running", "succeeded", "failed", "cancelled"];

  // jobs lists the asynchronous jobs of the key's scope (an admin: every
  // process's) a server page at a time: "Older" follows next_before.
  async function jobs(root, params) {
    root.append(h("h2", {}, "Jobs"));
    const f = { status: params.get("status") || "", process_id: params.get("process_id") || "", before: params.get("before") || "", limit: params.get("limit") || "50" };
    const form = h("form", { class: "controls" },
      select("Status", f.status, [["", "any"], ...JOB_STATUSES.map((s) => [s, s])]),
      isAdmin() ? h("label", {}, "Process (key)", h("input", { name: "process_id", value: f.process_id, inputmode: "numeric", size: 6 })) : null,
      select("Limit", f.limit, [["25", "25 per page"], ["50", "50 per page"], ["200", "200 per page"]]),
      h("button", { type: "submit" }, "Filter"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = (sel) => form.querySelector(sel) ? form.querySelector(sel).value : "";
      setParams("jobs", { status: v("[data-opt=status]"), process_id: v("[name=process_id]"), limit: v("[data-opt=limit]") });
    });
    root.append(form);
    const body = { limit: Number(f.limit) };
    if (f.status) body.status = f.status;
    if (f.process_id) body.process_id = Number(f.process_id);
    if (f.before) body.before = Number(f.before);
    const list = await api("list_jobs", body);
    if (!list.enabled) {
      root.append(panel("Jobs", h("p", { class: "note", id: "jobs-disabled" }, "The job API (/jobs/v1/...) is turned off on this Logos, or its store keeps no jobs.")));
      return;
    }
    const counts = {};
    for (const j of list.jobs) counts[j.status] = (counts[j.status] || 0) + 1;
    root.append(h("div", { class: "cards" }, JOB_STATUSES.map((s) =>
      h("div", { class: "card" }, h("b", { id: "jobs-" + s }, fmtNum(counts[s] || 0)), h("span", {}, s + " (listed)")))));
    const nav = { status: f.status, process_id: f.process_id, limit: f.limit };
    root.append(panel(f.before ? `Jobs older than job ${f.before}` : "Newest jobs", table([
      { key: "job_id", label: "Job", num: true }, { key: "created_at", label: "Submitted", fmt: fmtTime },
      { key: "process_id", label: "Process", num: true }, { key: "profile_id", label: "Profile", num: true },
      { key: "model", label: "Model" }, { key: "operation", label: "Operation" },
      { key: "status", label: "Status", cls: (j) => "job-" + j.status }, { key: "status_code", label: "HTTP", num: true },
      { key: "attempts", label: "Attempts", num: true }, { key: "updated_at", label: "Updated", fmt: fmtTime },
      { key: "request_id", label: "Usage record", fmt: (v) => (v ? h("a", { href: "#/requests/" + encodeURIComponent(v) }, v) : "–") },
      { key: "error", label: "Error" },
    ], list.jobs, { sortKey: "job_id", asc: false, pageSize: 200, rowId: (j) => j.job_id, empty: "No jobs match" }),
    h("div", { class: "pager", id: "jobs-pager" },
      h("button", { type: "button", id: "jobs-newest", disabled: !f.before, on: { click: () => setParams("jobs", nav) } }, "« Newest"),
      h("button", { type: "button", id: "jobs-older", disabled: !list.has_more, on: { click: () => setParams("jobs", Object.assign({ before: list.next_before }, nav)) } }, "Older ›"))));
  }

  // ---- start --------------------------------------------------------------

  $("#signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#key").value.trim()); });
  $("#signout").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  if (state.key) signIn(state.key); else showSignIn();
})();
