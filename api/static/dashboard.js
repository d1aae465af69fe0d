/* Bazkhord dashboard: reads the /v1 insight APIs with the manager key kept in sessionStorage. */
(function () {
  "use strict";
  const KEY = "bazkhord.key";
  const $ = (id) => document.getElementById(id);
  const charts = {};
  const num = new Intl.NumberFormat("fa-IR", { maximumFractionDigits: 1 });
  const int = new Intl.NumberFormat("fa-IR", { maximumFractionDigits: 0 });
  const sig = new Intl.NumberFormat("fa-IR", { maximumSignificantDigits: 2 });
  let optionsLoaded = false;
  let renders = 0;

  const fmt = (v) => (v === null || v === undefined ? "—" : num.format(v));
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  function dateFa(iso, calendar) {
    const d = new Date(iso + "T12:00:00Z");
    const cal = calendar === "gregorian" ? "fa-IR-u-ca-gregory" : "fa-IR-u-ca-persian";
    return new Intl.DateTimeFormat(cal, { year: "numeric", month: "long", day: "numeric", timeZone: "UTC" }).format(d);
  }

  function message(text) { $("message").textContent = text || ""; }

  async function api(path, params) {
    const qs = new URLSearchParams();
    Object.entries(params || {}).forEach(([k, v]) => { if (v !== "" && v !== null && v !== undefined) qs.append(k, v); });
    const res = await fetch(path + (qs.toString() ? "?" + qs : ""), { headers: { "X-API-Key": sessionStorage.getItem(KEY) || "" } });
    const body = await res.json().catch(() => ({}));
    if (res.status === 401 || res.status === 403) {
      sessionStorage.removeItem(KEY);
      showLogin();
      throw new Error((body.error && body.error.message) || "کلید معتبر نیست");
    }
    if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
    return body;
  }

  function filters() {
    return {
      period: $("period").value, calendar: $("calendar").value,
      segment: $("segment").value, channel: $("channel").value,
    };
  }

  function kpiCard(title, fig, unit) {
    const insufficient = !fig || fig.insufficient_data;
    const ci = fig && fig.ci_low !== null ? `بازه ۹۵٪: ${fmt(fig.ci_low)} تا ${fmt(fig.ci_high)}` : "بازه: —";
    return `<div class="kpi${insufficient ? " insufficient" : ""}" data-kpi="${esc(title)}">
      <h3>${esc(title)}</h3><div class="value">${fmt(fig && fig.value)}${unit || ""}</div>
      <div class="ci">${ci}</div><div class="n">n = ${int.format(fig ? fig.n : 0)}</div></div>`;
  }

  function renderKpis(o) {
    $("kpis").innerHTML = [
      kpiCard("رضایت (CSAT)", o.csat, "٪"),
      kpiCard("میانگین امتیاز", o.mean_rating, ""),
      kpiCard("NPS", o.nps, ""),
      kpiCard("احساس خالص", o.net_sentiment, ""),
      kpiCard("سهم شکایت", o.complaints.share, "٪"),
      kpiCard("شاخص رضایت (CSI)", o.csi, ""),
    ].join("");
  }

  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false, locale: "fa-IR" }, config.options || {});
    charts[id] = new Chart($(id), config);
  }

  const val = (f) => (f && f.value !== null && !f.insufficient_data ? f.value : null);

  function renderTrend(data) {
    const s = data.series;
    const labels = s.map((p) => p.label_fa);
    chart("trend", {
      type: "line",
      data: {
        labels,
        datasets: [
          { label: "CSAT ٪", data: s.map((p) => val(p.csat)), borderColor: "#0b7285", backgroundColor: "#0b7285", spanGaps: true },
          { label: "حد پایین CSAT", data: s.map((p) => (p.csat.insufficient_data ? null : p.csat.ci_low)), borderColor: "rgba(11,114,133,.25)", borderDash: [4, 4], pointRadius: 0, spanGaps: true },
          { label: "حد بالای CSAT", data: s.map((p) => (p.csat.insufficient_data ? null : p.csat.ci_high)), borderColor: "rgba(11,114,133,.25)", borderDash: [4, 4], pointRadius: 0, spanGaps: true },
          { label: "احساس خالص", data: s.map((p) => val(p.net_sentiment)), borderColor: "#e8590c", backgroundColor: "#e8590c", spanGaps: true },
        ],
      },
      options: { scales: { x: { reverse: true }, y: { suggestedMin: -100, suggestedMax: 100 } }, plugins: { legend: { rtl: true, position: "bottom" } } },
    });
    chart("volume", {
      type: "bar",
      data: {
        labels,
        datasets: [
          { label: "بازخورد", data: s.map((p) => p.volume), backgroundColor: "#74c0fc" },
          { label: "شکایت", data: s.map((p) => p.complaints.volume), backgroundColor: "#fa5252" },
        ],
      },
      options: { scales: { x: { reverse: true } }, plugins: { legend: { rtl: true, position: "bottom" } } },
    });
  }

  function renderTopics(o) {
    const t = o.topics.slice().sort((a, b) => b.mentions - a.mentions);
    chart("topics", {
      type: "bar",
      data: {
        labels: t.map((x) => x.label_fa),
        datasets: [
          { label: "رضایت (۰–۱۰۰)", data: t.map((x) => x.satisfaction.value), backgroundColor: t.map((x) => (x.satisfaction.value >= 50 ? "#51cf66" : "#ff8787")) },
          { label: "سهم منفی ٪", data: t.map((x) => x.negative_share.value), backgroundColor: "#adb5bd" },
        ],
      },
      options: { indexAxis: "y", scales: { x: { min: 0, max: 100, reverse: true }, y: { position: "right" } }, plugins: { legend: { rtl: true, position: "bottom" } } },
    });
  }

  function heatColor(v) {
    // 0 (red) .. 50 (amber) .. 100 (green)
    const h = Math.round(Math.max(0, Math.min(100, v)) * 1.2);
    return `hsl(${h}, 70%, 78%)`;
  }

  function renderHeatmap(data) {
    const groups = data.groups.slice(0, 20);
    const topics = data.overall.topics.map((t) => [t.topic, t.label_fa]);
    if (!groups.length || !topics.length) { $("heatmap").innerHTML = '<p class="muted">داده‌ای نیست.</p>'; return; }
    let html = "<table><thead><tr><th>بخش</th>" + topics.map(([, l]) => `<th>${esc(l)}</th>`).join("") + "<th>CSI</th></tr></thead><tbody>";
    groups.forEach((g) => {
      const by = Object.fromEntries(g.topics.map((t) => [t.topic, t]));
      html += `<tr><th>${esc(g.group)}</th>`;
      topics.forEach(([id]) => {
        const f = by[id] && by[id].satisfaction;
        if (!f || f.value === null || f.insufficient_data) html += `<td class="na" title="n=${f ? f.n : 0}">—</td>`;
        else html += `<td style="background:${heatColor(f.value)}" title="n=${f.n}">${fmt(f.value)}</td>`;
      });
      const c = g.csi;
      html += c.value === null || c.insufficient_data ? '<td class="na">—</td>' : `<td style="background:${heatColor(c.value)}">${fmt(c.value)}</td>`;
      html += "</tr>";
    });
    $("heatmap").innerHTML = html + "</tbody></table>";
  }

  function renderThemes(th, calendar) {
    $("themes-window").textContent = th.from ? `(${dateFa(th.from, calendar)} تا ${dateFa(th.to, calendar)})` : "";
    if (!th.themes.length) { $("themes").innerHTML = '<p class="muted">شکایتی در این بازه نیست.</p>'; return; }
    $("themes").innerHTML = th.themes.slice(0, 6).map((t) => {
      const d = t.change.delta_negative_mentions;
      const cls = d > 0 ? "up" : "down";
      return `<div class="theme" data-topic="${esc(t.topic)}"><h3>${esc(t.label_fa)} — ${int.format(t.negative_mentions)} اشارهٔ منفی
        <span class="${cls}">(${d > 0 ? "+" : ""}${int.format(d)} نسبت به دورهٔ قبل)</span></h3>
        <div class="phrases">${t.key_phrases.map((p) => `<span>${esc(p)}</span>`).join("")}</div>
        ${t.examples.map((e) => `<blockquote>«${esc(e)}»</blockquote>`).join("")}</div>`;
    }).join("");
  }

  function renderAlerts(al, calendar) {
    $("alerts-window").textContent = `(${al.current.label_fa} در برابر ${int.format(al.baseline.periods)} دورهٔ قبل)`;
    if (!al.alerts.length) { $("alerts").innerHTML = '<p class="muted">افزایش معناداری دیده نشد.</p>'; return; }
    $("alerts").innerHTML = al.alerts.slice(0, 8).map((a) => `<div class="alert">
      <strong>${esc(a.label_fa || "احساس منفی")}</strong> ${a.segment ? "در " + esc(a.segment) : "در همه بخش‌ها"}:
      ${fmt(a.current.rate.value)}٪ در برابر ${fmt(a.baseline.rate.value)}٪ (q=${sig.format(a.q_value)})
      ${a.examples.length ? `<blockquote>«${esc(a.examples[0])}»</blockquote>` : ""}</div>`).join("");
    void calendar;
  }

  function renderEmerging(em) {
    if (!em.themes.length) { $("emerging").innerHTML = `<p class="muted">موضوع نوظهوری یافت نشد (${int.format(em.abstained)} متن بدون موضوع).</p>`; return; }
    $("emerging").innerHTML = em.themes.slice(0, 5).map((t) => `<div class="theme"><h3>${int.format(t.size)} متن</h3>
      <div class="phrases">${t.key_phrases.map((p) => `<span>${esc(p)}</span>`).join("")}</div>
      ${t.examples.slice(0, 1).map((e) => `<blockquote>«${esc(e)}»</blockquote>`).join("")}</div>`).join("");
  }

  function fillSelect(id, values) {
    const sel = $(id);
    const current = sel.value;
    sel.innerHTML = '<option value="">همه</option>' + values.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join("");
    sel.value = values.includes(current) ? current : "";
  }

  async function loadOptions() {
    const [bySeg, byChan] = await Promise.all([
      api("/v1/indicators", { period: "year", group_by: "segment", weights: "equal" }),
      api("/v1/indicators", { period: "year", group_by: "channel", weights: "equal" }),
    ]);
    fillSelect("segment", bySeg.groups.map((g) => g.group));
    fillSelect("channel", byChan.groups.map((g) => g.group));
    optionsLoaded = true;
  }

  async function load() {
    message("در حال بارگذاری…");
    document.body.dataset.loading = "1";
    try {
      if (!optionsLoaded) await loadOptions();
      const f = filters();
      const slice = { segment: f.segment, channel: f.channel };
      const [ind, th, al, em] = await Promise.all([
        api("/v1/indicators", Object.assign({ period: f.period, calendar: f.calendar, group_by: "segment" }, slice)),
        api("/v1/themes/top", slice),
        api("/v1/alerts", Object.assign({ period: f.period === "day" ? "week" : f.period, calendar: f.calendar }, slice)),
        api("/v1/themes/emerging", Object.assign({ sample: 1500 }, slice)),
      ]);
      $("window").textContent = ind.from ? `${dateFa(ind.from, f.calendar)} تا ${dateFa(ind.to, f.calendar)}` : "بدون داده";
      renderKpis(ind.overall);
      renderTrend(ind);
      renderTopics(ind.overall);
      renderHeatmap(ind);
      renderThemes(th, f.calendar);
      renderAlerts(al, f.calendar);
      renderEmerging(em);
      const qs = new URLSearchParams(Object.entries(slice).filter(([, v]) => v));
      $("report-html").onclick = (e) => { e.preventDefault(); openReport(qs); };
      renders += 1;
      document.body.dataset.renders = String(renders);
      message("");
    } catch (err) {
      message(err.message);
    } finally {
      delete document.body.dataset.loading;
    }
  }

  async function openReport(qs) {
    qs.set("format", "html");
    const res = await fetch("/v1/reports/management-review?" + qs, { headers: { "X-API-Key": sessionStorage.getItem(KEY) || "" } });
    const w = window.open("", "_blank");
    if (w) { w.document.write(await res.text()); w.document.close(); }
  }

  function showLogin() {
    $("login").hidden = false; $("logout").hidden = true; $("app").hidden = true;
  }

  function showApp() {
    $("login").hidden = true; $("logout").hidden = false; $("app").hidden = false;
    load();
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $("key").value.trim());
    $("key").value = "";
    optionsLoaded = false;
    showApp();
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); showLogin(); });
  ["period", "calendar", "segment", "channel"].forEach((id) => $(id).addEventListener("change", load));
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  if (sessionStorage.getItem(KEY)) showApp(); else showLogin();
})();
