// The TCP health dashboard: polls /health (HealthChecks UI JSON), keeps a few minutes of history in
// the browser, and draws one small chart per checked address; a watched check shows each watch's
// health, since when, and a strip of its recent results. No build step, no dependency.
(() => {
  "use strict";

  const POLL_MS = 2000;
  const WINDOW_MS = 5 * 60 * 1000;
  const REQUEST_TIMEOUT_MS = 4000;
  const SVG = "http://www.w3.org/2000/svg";

  const history = new Map(); // "check|address" -> [{ t, ms, ok }]
  let lastSuccess = null;    // time of the last answer
  let failingSince = null;   // time of the first failed poll in a row

  const $ = (id) => document.getElementById(id);
  const time = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
  const formatMs = (ms) => (ms < 10 ? ms.toFixed(3) : ms < 100 ? ms.toFixed(2) : ms.toFixed(0)) + " ms";

  // "00:00:00.0012345" (TimeSpan) -> milliseconds
  function spanToMs(text) {
    const m = /^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(text || "");
    if (!m) return NaN;
    return (((+(m[1] || 0) * 24 + +m[2]) * 60 + +m[3]) * 60 + parseFloat(m[4])) * 1000;
  }

  // The per-address reports a TCP check puts in its data: { "host:port": [{ address, status, handshakeMilliseconds, mode }] }
  function endpointsOf(entry) {
    const rows = [];
    for (const [target, value] of Object.entries(entry.data || {})) {
      if (!Array.isArray(value)) continue;
      for (const report of value) {
        if (report && typeof report.handshakeMilliseconds === "number") {
          rows.push({ target, address: report.address, status: report.status, ms: report.handshakeMilliseconds, mode: report.mode });
        }
      }
    }
    return rows;
  }

  // The watches of a watched check (TcpShakerCheckOptions.Watch): { "host:port": { health, unknownReason, since, checks, recent: [{ status, elapsed, at }] } }
  function watchesOf(entry) {
    const watches = [];
    for (const [target, value] of Object.entries(entry.data || {})) {
      if (value && typeof value.health === "string" && Array.isArray(value.recent)) watches.push({ target, ...value });
    }
    return watches;
  }

  // "1 h 2 min", "3 min 4 s", "5 s"
  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  }

  const STRIP = 32; // TcpWatch.HistoryLength: the results a watch keeps

  function renderWatch(item, watch, now) {
    item.dataset.endpoint = watch.target;
    item.dataset.health = watch.health;
    item.querySelector(".address").textContent = watch.target;
    const badge = item.querySelector(".health");
    badge.textContent = watch.health;
    badge.dataset.status = watch.health;
    const since = Date.parse(watch.since);
    // A watch that can no longer check (engine stopped, loop faulted, no result in time) says why.
    item.querySelector(".since").textContent = watch.unknownReason
      ? `no verdict since ${time(since)} (${ago(now - since)}): ${watch.unknownReason}`
      : `${watch.health === "Unknown" ? "no verdict since" : "since"} ${time(since)} (${ago(now - since)})`;
    const streak = watch.consecutiveFailures > 0
      ? `${watch.consecutiveFailures} failed in a row` : `${watch.consecutiveSuccesses} open in a row`;
    item.querySelector(".counts").textContent = `${watch.checks} checks · ${streak}`;
    const last = watch.recent[watch.recent.length - 1];
    item.querySelector(".last").textContent = last ? `last: ${last.status} ${formatMs(spanToMs(last.elapsed))}` : "not checked yet";

    // One cell per recent check, oldest first, the empty places first while the history fills.
    const strip = item.querySelector(".strip");
    const cells = [];
    for (let i = watch.recent.length; i < STRIP; i++) {
      const cell = document.createElement("span");
      cell.className = "cell empty";
      cells.push(cell);
    }
    for (const sample of watch.recent.slice(-STRIP)) {
      const cell = document.createElement("span");
      cell.className = "cell";
      cell.dataset.status = sample.status;
      cell.title = `${time(Date.parse(sample.at))}  ${sample.status}  ${formatMs(spanToMs(sample.elapsed))}`;
      cells.push(cell);
    }
    strip.replaceChildren(...cells);
    strip.dataset.results = String(watch.recent.length);
    strip.setAttribute("aria-label", `the last ${watch.recent.length} checks: ${watch.recent.filter((r) => r.status === "Open").length} open`);
  }

  function remember(key, point) {
    let points = history.get(key);
    if (!points) history.set(key, (points = []));
    points.push(point);
    while (points.length && points[0].t < point.t - WINDOW_MS) points.shift();
    return points;
  }

  function element(parent, selector, template) {
    let node = parent.querySelector(selector);
    if (!node) {
      node = $(template).content.firstElementChild.cloneNode(true);
      parent.appendChild(node);
    }
    return node;
  }

  function drawChart(svg, points, now) {
    const width = Math.max(svg.clientWidth || 320, 100);
    const height = 64, top = 6, bottom = height - 6;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.replaceChildren();
    const highest = Math.max(...points.map((p) => p.ms), 0.001);
    const max = highest * 1.15;
    // The time axis spans the history kept so far: at least a minute, at most the window.
    const span = Math.min(WINDOW_MS, Math.max(60_000, now - points[0].t));
    const x = (t) => ((t - (now - span)) / span) * (width - 8) + 4;
    const y = (ms) => bottom - (ms / max) * (bottom - top);
    for (const fraction of [0, 0.5, 1]) {
      const line = document.createElementNS(SVG, "line");
      const gy = bottom - fraction * (bottom - top);
      line.setAttribute("class", "grid");
      line.setAttribute("x1", 0); line.setAttribute("x2", width);
      line.setAttribute("y1", gy); line.setAttribute("y2", gy);
      svg.appendChild(line);
    }
    // One polyline per run of polls without a gap (a gap: the app or the page was away).
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        const path = document.createElementNS(SVG, "polyline");
        path.setAttribute("class", points[points.length - 1].ok ? "line" : "line failing");
        path.setAttribute("points", run.map((p) => `${x(p.t).toFixed(1)},${y(p.ms).toFixed(1)}`).join(" "));
        svg.appendChild(path);
      }
      run = [];
    };
    points.forEach((p, i) => {
      if (i > 0 && p.t - points[i - 1].t > POLL_MS * 3) flush();
      run.push(p);
    });
    flush();
    for (const p of points) {
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("class", p.ok ? "ok" : "bad");
      dot.setAttribute("cx", x(p.t).toFixed(1));
      dot.setAttribute("cy", y(p.ms).toFixed(1));
      dot.setAttribute("r", p.ok ? 1.8 : 2.6);
      const tip = document.createElementNS(SVG, "title");
      tip.textContent = `${time(p.t)}  ${formatMs(p.ms)}${p.ok ? "" : " (failed)"}`;
      dot.appendChild(tip);
      svg.appendChild(dot);
    }
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("class", "scale");
    label.setAttribute("x", 4);
    label.setAttribute("y", 11);
    label.textContent = formatMs(highest);
    svg.appendChild(label);
    svg.dataset.points = String(points.length);
    svg.setAttribute("aria-label", `${points.length} measurements, highest ${formatMs(highest)}`);
  }

  function stats(points) {
    const values = points.map((p) => p.ms);
    const avg = values.reduce((a, b) => a + b, 0) / values.length;
    return `min ${formatMs(Math.min(...values))} · avg ${formatMs(avg)} · max ${formatMs(Math.max(...values))}`;
  }

  function render(report, now) {
    const overall = $("overall");
    overall.textContent = report.status;
    overall.dataset.status = report.status;
    document.title = `${report.status === "Healthy" ? "✓" : "✗"} TCP health`;
    $("updated").textContent = `updated ${time(now)} · /health took ${formatMs(spanToMs(report.totalDuration))}`;

    const main = $("checks");
    const seen = new Set();
    for (const [name, entry] of Object.entries(report.entries || {})) {
      seen.add(name);
      const card = element(main, `.check[data-check="${CSS.escape(name)}"]`, "check-template");
      card.dataset.check = name;
      card.dataset.status = entry.status;
      card.querySelector(".name").textContent = name;
      const badge = card.querySelector(".status");
      badge.textContent = entry.status;
      badge.dataset.status = entry.status;
      card.querySelector(".description").textContent = entry.description || entry.exception || "";
      const tags = (entry.tags || []).join(", ") || "none";
      const rows = endpointsOf(entry);
      const mode = (entry.data && entry.data.mode) || (rows[0] && rows[0].mode);
      // modeReason: why the engine does not run the mode its options ask for (raw SYN without CAP_NET_RAW, say).
      const modeReason = entry.data && entry.data.modeReason;
      card.querySelector(".facts").textContent =
        `tags: ${tags} · took ${formatMs(spanToMs(entry.duration))}` + (mode ? ` · mode ${mode}` : "") + (modeReason ? ` (${modeReason})` : "");

      // A watched check: each watch's health, since when, and a strip of its recent results.
      const watches = watchesOf(entry);
      const watchList = card.querySelector(".watches");
      const watched = new Set();
      for (const watch of watches) {
        watched.add(watch.target);
        renderWatch(element(watchList, `.watch[data-endpoint="${CSS.escape(watch.target)}"]`, "watch-template"), watch, now);
      }
      for (const old of watchList.querySelectorAll(".watch")) if (!watched.has(old.dataset.endpoint)) old.remove();

      // A check without addresses (such as "self") charts its own duration.
      if (rows.length === 0 && watches.length === 0) {
        rows.push({ target: name, address: "check duration", status: entry.status, ms: spanToMs(entry.duration) });
      }
      const list = card.querySelector(".endpoints");
      const shown = new Set();
      for (const row of rows) {
        const key = `${name}|${row.address}`;
        shown.add(key);
        const ok = row.status === "Open" || row.status === "Healthy";
        const points = remember(key, { t: now, ms: row.ms, ok });
        const item = element(list, `.endpoint[data-key="${CSS.escape(key)}"]`, "endpoint-template");
        item.dataset.key = key;
        item.dataset.endpoint = row.address;
        item.dataset.status = row.status;
        item.querySelector(".address").textContent = row.address;
        const status = item.querySelector(".status");
        status.textContent = row.status;
        status.dataset.status = row.status;
        item.querySelector(".ms").textContent = formatMs(row.ms);
        const kept = Math.round((now - points[0].t) / 1000);
        item.querySelector(".range").textContent = kept < 120 ? `last ${kept} s` : `last ${Math.round(kept / 60)} min`;
        item.querySelector(".stats").textContent = stats(points);
        drawChart(item.querySelector(".chart"), points, now);
      }
      for (const old of list.querySelectorAll(".endpoint")) if (!shown.has(old.dataset.key)) old.remove();
    }
    for (const card of main.querySelectorAll(".check")) if (!seen.has(card.dataset.check)) card.remove();
  }

  function showDown(now, reason) {
    failingSince = failingSince || now;
    document.body.classList.add("stale");
    const banner = $("banner");
    banner.hidden = false;
    banner.textContent = `Cannot reach the app since ${time(failingSince)} (${reason}).` +
      (lastSuccess ? ` The data below is from ${time(lastSuccess)}, ${Math.round((now - lastSuccess) / 1000)} s ago.` : " No data yet.");
  }

  function showUp() {
    failingSince = null;
    document.body.classList.remove("stale");
    $("banner").hidden = true;
  }

  async function poll() {
    const now = Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    try {
      // 503 is an answer too: the app is up and reports an unhealthy check.
      const response = await fetch("health", { cache: "no-store", signal: abort.signal, headers: { Accept: "application/json" } });
      const type = response.headers.get("content-type") || "";
      if (!type.includes("json")) throw new Error(`HTTP ${response.status}`);
      const report = await response.json();
      lastSuccess = now;
      showUp();
      render(report, now);
    } catch (error) {
      showDown(now, error.name === "AbortError" ? "no answer" : error.message || "network error");
    } finally {
      clearTimeout(timer);
      setTimeout(poll, POLL_MS);
    }
  }

  $("interval").textContent = String(POLL_MS / 1000);
  $("window").textContent = String(WINDOW_MS / 60000);
  poll();
})();
