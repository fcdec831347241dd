// chart.js: a small, dependency-free SVG charting module for the Logos
// dashboard. It draws line charts over time and grouped bar charts with
// axes, units, a legend and hover values. Every chart is an <svg class="chart">
// whose data-points attribute counts the plotted values (the browser tests
// read it).
"use strict";

const LogosChart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2",
    "#db2777", "#65a30d", "#475569", "#ea580c", "#0d9488", "#9333ea"];
  const W = 720, H = 260, M = { top: 14, right: 16, bottom: 30, left: 74 };

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function text(parent, x, y, s, attrs) {
    const t = el("text", Object.assign({ x, y }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }

  // niceTicks returns about n round tick values covering [lo, hi].
  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) hi = lo + 1;
    const raw = (hi - lo) / Math.max(n, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const ticks = [];
    const end = Math.ceil(hi / step - 1e-9) * step;
    for (let v = Math.floor(lo / step) * step; v <= end + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
    return ticks;
  }

  // Formats for values by unit.
  function formatter(unit) {
    switch (unit) {
      case "ms": return (v) => (v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + " s" : Math.round(v) + " ms");
      case "%": return (v) => (Math.round(v * 10) / 10) + " %";
      case "MiB": return (v) => (v >= 1024 ? (v / 1024).toFixed(1) + " GiB" : Math.round(v) + " MiB");
      default:
        if (unit && unit.startsWith("cur:")) {
          const cur = unit.slice(4);
          return (v) => {
            const a = Math.abs(v);
            return (v === 0 ? "0" : v.toFixed(a >= 1 ? 2 : a >= 0.1 ? 3 : 4)) + " " + cur;
          };
        }
        return (v) => compact(v) + (unit ? " " + unit : "");
    }
  }

  function compact(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }

  function timeLabel(t, span) {
    const d = new Date(t);
    const p = (n) => String(n).padStart(2, "0");
    if (span <= 2 * 86400e3) return p(d.getHours()) + ":" + p(d.getMinutes());
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate());
  }

  function timeTicks(lo, hi, n) {
    const steps = [60e3, 300e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 14 * 86400e3, 30 * 86400e3];
    const want = (hi - lo) / Math.max(n, 1);
    const step = steps.find((s) => s >= want) || steps[steps.length - 1];
    const off = new Date(lo).getTimezoneOffset() * 60e3;
    const ticks = [];
    for (let t = Math.ceil((lo - off) / step) * step + off; t <= hi; t += step) ticks.push(t);
    return ticks;
  }

  function frame(container, opts) {
    container.textContent = "";
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": opts.title || "chart" }, container);
    return svg;
  }

  function legend(container, series) {
    const box = document.createElement("div");
    box.className = "legend";
    series.forEach((s, i) => {
      const item = document.createElement("span");
      const sw = document.createElement("i");
      sw.style.background = s.color || PALETTE[i % PALETTE.length];
      if (s.dashed) sw.className = "dashed";
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.name));
      box.appendChild(item);
    });
    container.appendChild(box);
  }

  function empty(svg, note) {
    el("rect", { x: M.left, y: M.top, width: W - M.left - M.right, height: H - M.top - M.bottom, class: "plot-bg" }, svg);
    text(svg, W / 2, H / 2, note || "No data in this range", { class: "empty-note", "text-anchor": "middle" });
    svg.setAttribute("data-points", "0");
  }

  // line draws series of [time ms, value] points over time.
  // opts: {title, unit, series: [{name, points, color?, dashed?}], empty?,
  // x?: [from ms, to ms]} (without x the range of the points).
  function line(container, opts) {
    const svg = frame(container, opts);
    const series = (opts.series || []).filter((s) => s.points && s.points.length);
    const fmt = formatter(opts.unit);
    let count = 0;
    let xlo = Infinity, xhi = -Infinity, yhi = 0;
    for (const s of series) for (const [x, y] of s.points) {
      if (y == null) continue;
      count++;
      xlo = Math.min(xlo, x); xhi = Math.max(xhi, x); yhi = Math.max(yhi, y);
    }
    if (!count) { empty(svg, opts.empty); return svg; }
    if (opts.x) { xlo = Math.min(xlo, opts.x[0]); xhi = Math.max(xhi, opts.x[1]); }
    if (xhi === xlo) { xlo -= 3600e3; xhi += 3600e3; }
    const yt = niceTicks(0, yhi || 1, 5);
    const ymax = yt[yt.length - 1];
    const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    const sx = (x) => M.left + ((x - xlo) / (xhi - xlo)) * pw;
    const sy = (y) => M.top + ph - (y / ymax) * ph;
    el("rect", { x: M.left, y: M.top, width: pw, height: ph, class: "plot-bg" }, svg);
    for (const v of yt) {
      el("line", { x1: M.left, x2: M.left + pw, y1: sy(v), y2: sy(v), class: "grid" }, svg);
      text(svg, M.left - 6, sy(v) + 4, fmt(v), { class: "tick", "text-anchor": "end" });
    }
    for (const t of timeTicks(xlo, xhi, 6)) {
      el("line", { x1: sx(t), x2: sx(t), y1: M.top + ph, y2: M.top + ph + 4, class: "axis" }, svg);
      text(svg, sx(t), H - 10, timeLabel(t, xhi - xlo), { class: "tick", "text-anchor": "middle" });
    }
    el("line", { x1: M.left, x2: M.left + pw, y1: M.top + ph, y2: M.top + ph, class: "axis" }, svg);
    el("line", { x1: M.left, x2: M.left, y1: M.top, y2: M.top + ph, class: "axis" }, svg);
    series.forEach((s, i) => {
      s.color = s.color || PALETTE[i % PALETTE.length];
      let d = "", pen = false;
      for (const [x, y] of s.points) {
        if (y == null) { pen = false; continue; }
        d += (pen ? "L" : "M") + sx(x).toFixed(1) + "," + sy(y).toFixed(1);
        pen = true;
      }
      const attrs = { d, class: "series", stroke: s.color, "data-name": s.name };
      if (s.dashed) attrs["stroke-dasharray"] = "5,4";
      el("path", attrs, svg);
      // Dots on short series, and on points without a neighbour to join.
      s.points.forEach(([x, y], i) => {
        if (y == null) return;
        const alone = (i === 0 || s.points[i - 1][1] == null) && (i === s.points.length - 1 || s.points[i + 1][1] == null);
        if (alone || s.points.length <= 60) el("circle", { cx: sx(x), cy: sy(y), r: alone ? 3 : 2.2, fill: s.color }, svg);
      });
    });
    hover(svg, container, series, sx, xlo, xhi, pw, (t) => new Date(t).toLocaleString(), fmt);
    svg.setAttribute("data-points", String(count));
    legend(container, series);
    return svg;
  }

  // hover shows a guide line and the values of every series at the x nearest
  // the pointer.
  function hover(svg, container, series, sx, xlo, xhi, pw, xfmt, fmt) {
    const guide = el("line", { y1: M.top, y2: H - M.bottom, class: "guide", visibility: "hidden" }, svg);
    const tip = document.createElement("div");
    tip.className = "tip";
    tip.hidden = true;
    container.style.position = "relative";
    container.appendChild(tip);
    const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const overlay = el("rect", { x: M.left, y: M.top, width: pw, height: H - M.top - M.bottom, class: "overlay" }, svg);
    overlay.addEventListener("mousemove", (ev) => {
      const box = svg.getBoundingClientRect();
      const px = ((ev.clientX - box.left) / box.width) * W;
      const t = xlo + ((px - M.left) / pw) * (xhi - xlo);
      let best = xs[0];
      for (const x of xs) if (Math.abs(x - t) < Math.abs(best - t)) best = x;
      guide.setAttribute("x1", sx(best)); guide.setAttribute("x2", sx(best));
      guide.setAttribute("visibility", "visible");
      tip.textContent = "";
      const h = document.createElement("b");
      h.textContent = xfmt(best);
      tip.appendChild(h);
      for (const s of series) {
        const p = s.points.find((q) => q[0] === best);
        if (!p || p[1] == null) continue;
        const row = document.createElement("div");
        const sw = document.createElement("i");
        sw.style.background = s.color;
        row.appendChild(sw);
        row.appendChild(document.createTextNode(s.name + ": " + fmt(p[1])));
        tip.appendChild(row);
      }
      tip.hidden = false;
      const left = (sx(best) / W) * box.width;
      tip.style.left = Math.min(left + 12, box.width - 200) + "px";
      tip.style.top = "8px";
    });
    overlay.addEventListener("mouseleave", () => { tip.hidden = true; guide.setAttribute("visibility", "hidden"); });
  }

  // bars draws grouped bars: opts {title, unit, labels: [..], series: [{name, values}]}.
  function bars(container, opts) {
    const svg = frame(container, opts);
    const labels = opts.labels || [];
    const series = opts.series || [];
    const fmt = formatter(opts.unit);
    let count = 0, yhi = 0;
    for (const s of series) for (const v of s.values) if (v != null) { count++; yhi = Math.max(yhi, v); }
    if (!count || !labels.length) { empty(svg, opts.empty); return svg; }
    const yt = niceTicks(0, yhi || 1, 5);
    const ymax = yt[yt.length - 1];
    const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    const sy = (y) => M.top + ph - (y / ymax) * ph;
    el("rect", { x: M.left, y: M.top, width: pw, height: ph, class: "plot-bg" }, svg);
    for (const v of yt) {
      el("line", { x1: M.left, x2: M.left + pw, y1: sy(v), y2: sy(v), class: "grid" }, svg);
      text(svg, M.left - 6, sy(v) + 4, fmt(v), { class: "tick", "text-anchor": "end" });
    }
    const group = pw / labels.length;
    const bw = Math.max(2, (group * 0.75) / series.length);
    const tip = document.createElement("div");
    tip.className = "tip";
    tip.hidden = true;
    container.style.position = "relative";
    container.appendChild(tip);
    labels.forEach((label, i) => {
      const gx = M.left + i * group + group * 0.125;
      series.forEach((s, j) => {
        const v = s.values[i];
        if (v == null) return;
        const r = el("rect", { x: gx + j * bw, y: sy(v), width: bw - 1, height: Math.max(0, M.top + ph - sy(v)),
          fill: s.color || PALETTE[j % PALETTE.length], class: "series bar" }, svg);
        r.addEventListener("mousemove", (ev) => {
          const box = svg.getBoundingClientRect();
          tip.textContent = label + " · " + s.name + ": " + fmt(v);
          tip.hidden = false;
          tip.style.left = Math.min(ev.clientX - box.left + 12, box.width - 200) + "px";
          tip.style.top = "8px";
        });
        r.addEventListener("mouseleave", () => { tip.hidden = true; });
      });
      const room = Math.max(4, Math.floor(group / 6.5));
      const short = label.length > room ? label.slice(0, room - 1) + "…" : label;
      text(svg, M.left + i * group + group / 2, H - 10, short, { class: "tick", "text-anchor": "middle" });
    });
    el("line", { x1: M.left, x2: M.left + pw, y1: M.top + ph, y2: M.top + ph, class: "axis" }, svg);
    el("line", { x1: M.left, x2: M.left, y1: M.top, y2: M.top + ph, class: "axis" }, svg);
    svg.setAttribute("data-points", String(count));
    legend(container, series.map((s, j) => ({ name: s.name, color: s.color || PALETTE[j % PALETTE.length] })));
    return svg;
  }

  return { line, bars, formatter, niceTicks, PALETTE };
})();
