/* Bazkhord dashboard, complaints panel (ISO 10002): process indicators and the open complaints queue.
   Reads GET /v1/indicators/process and GET /v1/complaints with the key the dashboard keeps in sessionStorage,
   and follows the dashboard's period / calendar / segment filters. */
(function () {
  "use strict";
  const KEY = "bazkhord.key";
  const $ = (id) => document.getElementById(id);
  const num = new Intl.NumberFormat("fa-IR", { maximumFractionDigits: 1 });
  const int = new Intl.NumberFormat("fa-IR", { maximumFractionDigits: 0 });
  const fmt = (v) => (v === null || v === undefined ? "—" : num.format(v));
  const esc = (s) => String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const PRIORITY_FA = { urgent: "فوری", high: "بالا", normal: "عادی", low: "پایین" };
  const STATUS_FA = { received: "دریافت‌شده", acknowledged: "تأییدِ دریافت", in_progress: "در حال رسیدگی", resolved: "حل‌شده", closed: "بسته", reopened: "بازگشایی‌شده" };
  const RECURRENCE_FA = { single: "منفرد", recurring: "تکراری", systemic: "سیستمی" };

  async function api(path, params) {
    const qs = new URLSearchParams();
    Object.entries(params || {}).forEach(([k, v]) => { if (v !== "" && v !== null && v !== undefined) qs.append(k, v); });
    const res = await fetch(path + (qs.toString() ? "?" + qs : ""), { headers: { "X-API-Key": sessionStorage.getItem(KEY) || "" } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
    return body;
  }

  function value(id) { const el = $(id); return el ? el.value : ""; }

  function kpi(title, fig, unit) {
    const insufficient = !fig || fig.insufficient_data;
    const ci = fig && fig.ci_low !== null && fig.ci_low !== undefined ? `بازه ۹۵٪: ${fmt(fig.ci_low)} تا ${fmt(fig.ci_high)}` : "بازه: —";
    return `<div class="kpi${insufficient ? " insufficient" : ""}" data-kpi="${esc(title)}">
      <h3>${esc(title)}</h3><div class="value">${fmt(fig && fig.value)}${unit || ""}</div>
      <div class="ci">${ci}</div><div class="n">n = ${int.format(fig ? fig.n : 0)}</div></div>`;
  }

  function renderIndicators(o) {
    const b = o.backlog;
    const backlog = Object.entries(b.by_priority).map(([p, n]) => `<span class="chip">${esc(PRIORITY_FA[p] || p)}: ${int.format(n)}</span>`).join("");
    $("complaints-kpis").innerHTML = [
      kpi("میانهٔ زمان تأیید دریافت (ساعت)", o.time_to_acknowledge_hours.median, ""),
      kpi("میانهٔ زمان رسیدگی (ساعت)", o.time_to_resolve_hours.median, ""),
      kpi("صدک ۹۰ زمان رسیدگی (ساعت)", o.time_to_resolve_hours.p90, ""),
      kpi(`حل‌شده در مهلت ${int.format(o.sla_hours.resolve)} ساعت`, o.resolved_within_sla, "٪"),
      kpi("نرخ بازگشایی", o.reopen_rate, "٪"),
      kpi("رضایت از رسیدگی (از ۵)", o.handling_satisfaction.mean_rating, ""),
    ].join("");
    $("complaints-backlog").innerHTML = `شکایت‌های باز: <b>${int.format(b.open)}</b> (گذشته از مهلت: ${int.format(b.overdue)}) ${backlog}`;
  }

  function renderQueue(page) {
    if (!page.items.length) { $("complaints-queue").innerHTML = '<p class="muted">شکایت بازی نیست.</p>'; return; }
    const rows = page.items.map((c) => `<tr data-priority="${esc(c.priority)}">
        <td>${int.format(c.id)}</td><td><b>${esc(PRIORITY_FA[c.priority] || c.priority || "—")}</b></td>
        <td>${esc(STATUS_FA[c.status] || c.status)}</td><td>${esc(RECURRENCE_FA[c.recurrence] || "—")}</td>
        <td>${c.priority_reasons.map((r) => `<span class="chip" title="${esc(r.evidence.join("، "))}">${esc(r.label_fa)}</span>`).join("")}</td>
        <td class="text">${esc((c.text || "").slice(0, 140))}</td></tr>`).join("");
    $("complaints-queue").innerHTML = `<table class="complaints"><thead><tr><th>#</th><th>اولویت</th><th>وضعیت</th><th>تکرار</th>
      <th>دلایل اولویت</th><th>متن</th></tr></thead><tbody>${rows}</tbody></table>
      <p class="muted">${int.format(page.items.length)} از ${int.format(page.total)} شکایت باز، فوری‌ترین و قدیمی‌ترین اول</p>`;
  }

  async function load() {
    if (!$("complaints-panel") || !sessionStorage.getItem(KEY) || ($("app") && $("app").hidden)) return;
    const segment = value("segment");
    try {
      const [ind, page] = await Promise.all([
        api("/v1/indicators/process", { period: value("period") || "month", calendar: value("calendar") || "jalali", segment }),
        api("/v1/complaints", { open: "true", limit: 10, segment }),
      ]);
      renderIndicators(ind.overall);
      renderQueue(page);
    } catch (err) {
      $("complaints-queue").innerHTML = `<p class="muted">${esc(err.message)}</p>`;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    ["period", "calendar", "segment", "channel"].forEach((id) => { if ($(id)) $(id).addEventListener("change", load); });
    // The dashboard shows #app after a login: load then.
    if ($("app")) new MutationObserver(load).observe($("app"), { attributes: true, attributeFilter: ["hidden"] });
    load();
  });
  window.bazkhordComplaints = { load };
})();
