// The report page: draws the data embedded in #report-data with ECharts.
// Money comes in minor units of data.currency; it is shown in major units.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var months = data.months;
  var scale = Math.pow(10, data.digits);
  var money = new Intl.NumberFormat("en-US", {
    style: "currency", currency: data.currency.toUpperCase(), currencyDisplay: data.currency_display,
    minimumFractionDigits: data.digits, maximumFractionDigits: data.digits
  });
  var compact = new Intl.NumberFormat("en-US", { style: "currency", currency: data.currency.toUpperCase(), currencyDisplay: data.currency_display, notation: "compact", maximumFractionDigits: 1 });
  function major(v) { return v / scale; }
  function fmt(v) { return v === null || v === undefined ? "n/a" : money.format(major(v)); }
  function pct(v) { return v === null || v === undefined ? "n/a" : (100 * v).toFixed(1) + "%"; }
  function ratio(v) { return v === null || v === undefined ? "n/a" : v.toFixed(2); }
  function label(m) { return m.month + (m.is_partial ? " (partial)" : ""); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  var last = months[months.length - 1];
  var prev = months.length > 1 ? months[months.length - 2] : null;
  document.getElementById("subtitle").textContent = "In " + data.currency.toUpperCase() + ", " + months[0].month + " to " + label(last) +
    ". Warehouse " + data.warehouse;

  // Headline figures with their change from the month before.
  var cards = [
    ["MRR", function (m) { return m.mrr_end; }, fmt],
    ["ARR", function (m) { return m.arr; }, fmt],
    ["Customers", function (m) { return m.customers_end; }, function (v) { return String(v); }],
    ["ARPA", function (m) { return m.arpa; }, fmt],
    ["Net MRR churn", function (m) { return m.net_mrr_churn_rate; }, pct, true],
    ["Quick ratio", function (m) { return m.quick_ratio; }, ratio],
    ["LTV", function (m) { return m.ltv; }, fmt]
  ];
  var cardBox = document.getElementById("cards");
  cards.forEach(function (c) {
    var v = c[1](last), p = prev ? c[1](prev) : null;
    var card = el("div", { "class": "card", "data-figure": c[0] });
    card.appendChild(el("div", { "class": "label" }, c[0] + (last.is_partial ? " (partial month)" : "")));
    card.appendChild(el("div", { "class": "value" }, c[2](v)));
    var change = "n/a", cls = "flat";
    if (v !== null && p !== null && v !== undefined && p !== undefined) {
      var d = v - p;
      cls = d === 0 ? "flat" : ((d > 0) !== !!c[3] ? "up" : "down");
      change = (d >= 0 ? "+" : "") + (c[2] === pct ? (100 * d).toFixed(1) + " pts" : c[2](d)) + " vs " + prev.month;
    }
    card.appendChild(el("div", { "class": "change " + cls }, change));
    cardBox.appendChild(card);
  });

  var charts = [];
  function chart(id) {
    var c = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
    charts.push(c);
    return c;
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  var axisMoney = { type: "value", axisLabel: { formatter: function (v) { return compact.format(v); } } };
  var tooltipMoney = { trigger: "axis", valueFormatter: function (v) { return money.format(v); } };

  // MRR over time, the movements stacked below it.
  var x = months.map(label);
  var series = [
    ["New", "new", 1, "#2e7d32"], ["Expansion", "expansion", 1, "#66bb6a"], ["Reactivation", "reactivation", 1, "#26a69a"],
    ["Contraction", "contraction", -1, "#ef6c00"], ["Churn", "churn", -1, "#c62828"]
  ].map(function (s) {
    return { name: s[0], type: "bar", stack: "moves", yAxisIndex: 1, itemStyle: { color: s[3] }, emphasis: { focus: "series" },
      data: months.map(function (m) { return { value: s[2] * major(m[s[1]]), itemStyle: m.is_partial ? { opacity: 0.5 } : {} }; }) };
  });
  series.push({ name: "FX impact", type: "bar", yAxisIndex: 1, itemStyle: { color: "#8e99ab" },
    data: months.map(function (m) { return major(m.fx_impact); }) });
  series.push({ name: "MRR", type: "line", smooth: false, symbolSize: 6, lineStyle: { width: 3, color: "#1d2430" }, itemStyle: { color: "#1d2430" },
    data: months.map(function (m) { return major(m.mrr_end); }) });
  chart("chart-mrr").setOption({
    animation: false,
    tooltip: tooltipMoney, legend: { top: 0, type: "scroll" },
    grid: { left: 8, right: 8, top: 40, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: x },
    yAxis: [Object.assign({ name: "MRR" }, axisMoney), Object.assign({ name: "Movements", splitLine: { show: false } }, axisMoney)],
    series: series
  });

  // The bridge of one month: start, each movement, end.
  var bridge = chart("chart-bridge");
  var select = document.getElementById("bridge-month");
  months.forEach(function (m, i) { var o = el("option", { value: String(i) }, label(m)); select.appendChild(o); });
  select.value = String(months.length - 1);
  function drawBridge(i) {
    var m = months[i];
    var steps = [["Start", m.mrr_start, "total"], ["New", m.new, "up"], ["Expansion", m.expansion, "up"], ["Reactivation", m.reactivation, "up"],
      ["Contraction", -m.contraction, "down"], ["Churn", -m.churn, "down"], ["FX impact", m.fx_impact, m.fx_impact >= 0 ? "up" : "down"], ["End", m.mrr_end, "total"]];
    var base = [], delta = [], level = 0, lo = Infinity, hi = -Infinity;
    steps.forEach(function (s) {
      var next = s[2] === "total" ? s[1] : level + s[1];
      lo = Math.min(lo, next);
      hi = Math.max(hi, next);
      if (s[2] === "total") { base.push(0); delta.push({ value: major(s[1]), itemStyle: { color: "#1d2430" } }); level = s[1]; return; }
      var from = level, to = level + s[1];
      base.push(major(Math.min(from, to)));
      delta.push({ value: major(Math.abs(s[1])), itemStyle: { color: s[1] >= 0 ? "#2e7d32" : "#c62828" }, signed: major(s[1]) });
      level = to;
    });
    bridge.setOption({
      animation: false,
      tooltip: { trigger: "axis", formatter: function (ps) {
        var p = ps.filter(function (q) { return q.seriesName === "Change"; })[0];
        var v = p.data.signed !== undefined ? p.data.signed : p.data.value;
        return p.name + ": " + money.format(v);
      } },
      grid: { left: 8, right: 8, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: steps.map(function (s) { return s[0]; }), axisLabel: { interval: 0, rotate: window.innerWidth < 600 ? 45 : 0 } },
      // The axis starts near the month's lowest level, so that its steps show.
      yAxis: Object.assign({ min: Math.max(0, Math.floor(major(lo - Math.max(hi - lo, Math.abs(hi) / 50) * 2))) }, axisMoney),
      series: [
        { name: "Base", type: "bar", stack: "bridge", itemStyle: { color: "transparent" }, emphasis: { disabled: true }, data: base },
        { name: "Change", type: "bar", stack: "bridge", data: delta, label: { show: window.innerWidth >= 600, position: "top",
          formatter: function (p) { return compact.format(p.data.signed !== undefined ? p.data.signed : p.data.value); } } }
      ]
    }, true);
    report.bridgeMonth = m.month;
  }
  select.addEventListener("change", function () { drawBridge(Number(select.value)); });

  // The cohort heatmap: customer or revenue retention, month by month.
  var heat = chart("chart-cohorts");
  var cohortMonths = [], maxSince = 0;
  data.cohorts.forEach(function (c) {
    if (cohortMonths.indexOf(c.cohort_month) < 0) { cohortMonths.push(c.cohort_month); }
    maxSince = Math.max(maxSince, c.months_since);
  });
  function drawCohorts(mode) {
    var key = mode === "revenue" ? "revenue_retention" : "customer_retention";
    var byCell = {};
    var cells = data.cohorts.filter(function (c) { return c[key] !== null; }).map(function (c) {
      var y = cohortMonths.indexOf(c.cohort_month);
      byCell[c.months_since + "," + y] = c;
      return [c.months_since, y, Math.round(1000 * c[key]) / 10];
    });
    var top = mode === "revenue" ? Math.max(100, Math.max.apply(null, cells.map(function (c) { return c[2]; }).concat([0]))) : 100;
    heat.setOption({
      animation: false,
      tooltip: { formatter: function (p) {
        var c = byCell[p.data[0] + "," + p.data[1]];
        return "Cohort " + c.cohort_month + ", month " + c.months_since + "<br>" +
          (mode === "revenue" ? "Revenue retention " + p.data[2] + "% (" + fmt(c.mrr) + " of " + fmt(c.cohort_mrr) + ")"
            : "Customer retention " + p.data[2] + "% (" + c.active_customers + " of " + c.cohort_customers + ")");
      } },
      grid: { left: 8, right: 8, top: 8, bottom: 60, containLabel: true },
      xAxis: { type: "category", name: "Months since", data: Array.from({ length: maxSince + 1 }, function (_, i) { return String(i); }), splitArea: { show: true } },
      yAxis: { type: "category", data: cohortMonths, inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: top, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#fbe9e7", "#ffcc80", "#aed581", "#2e7d32"] } },
      series: [{ name: mode, type: "heatmap", data: cells, label: { show: window.innerWidth >= 600 && maxSince < 18, fontSize: 10,
        formatter: function (p) { return Math.round(p.data[2]); } } }]
    }, true);
    report.cohortMode = mode;
    ["customers", "revenue"].forEach(function (m) {
      document.getElementById("cohort-" + m).setAttribute("aria-pressed", String(m === mode));
    });
  }
  document.getElementById("cohort-customers").addEventListener("click", function () { drawCohorts("customers"); });
  document.getElementById("cohort-revenue").addEventListener("click", function () { drawCohorts("revenue"); });

  // The largest movements of the last month, with the command that
  // explains each.
  document.getElementById("movers-title").textContent = "Top movers of " + data.movers_month;
  var movers = document.getElementById("movers");
  var head = el("tr");
  ["Date", "Customer", "Movement", "Amount", "Invoices", "Explain"].forEach(function (h, i) { head.appendChild(el("th", i === 3 ? { "class": "num" } : {}, h)); });
  movers.appendChild(head);
  data.movers.forEach(function (m) {
    var tr = el("tr");
    tr.appendChild(el("td", {}, m.date));
    tr.appendChild(el("td", {}, m.source + " / " + m.customer_id));
    tr.appendChild(el("td", {}, m.movement));
    tr.appendChild(el("td", { "class": "num" }, fmt(m.amount) + (m.currency !== data.currency ? " (" + m.currency.toUpperCase() + ")" : "")));
    tr.appendChild(el("td", {}, m.invoice_ids.join(", ")));
    var cmd = el("td");
    cmd.appendChild(el("code", {}, "mrrflow explain --warehouse " + data.warehouse + " --source " + m.source + " --customer " + m.customer_id));
    tr.appendChild(cmd);
    movers.appendChild(tr);
  });
  if (!data.movers.length) { movers.appendChild(el("tr")).appendChild(el("td", {}, "No movement in " + data.movers_month + ".")); }

  // Data quality: rejected rows by source, entity and reason; warnings.
  var rej = document.getElementById("rejected");
  var rh = el("tr");
  ["Source", "Entity", "Rejected because", "Rows", "For example"].forEach(function (h, i) { rh.appendChild(el("th", i === 3 ? { "class": "num" } : {}, h)); });
  rej.appendChild(rh);
  data.rejected.forEach(function (r) {
    var tr = el("tr");
    [r.source, r.entity, r.reason].forEach(function (v) { tr.appendChild(el("td", {}, v)); });
    tr.appendChild(el("td", { "class": "num" }, String(r.rows)));
    tr.appendChild(el("td", {}, r.example));
    rej.appendChild(tr);
  });
  if (!data.rejected.length) { rej.appendChild(el("tr")).appendChild(el("td", {}, "No rejected rows.")); }
  var warn = document.getElementById("warnings");
  var wh = el("tr");
  ["Source", "Warning", "Rows"].forEach(function (h, i) { wh.appendChild(el("th", i === 2 ? { "class": "num" } : {}, h)); });
  warn.appendChild(wh);
  data.warnings.forEach(function (w) {
    var tr = el("tr");
    tr.appendChild(el("td", {}, w.source));
    tr.appendChild(el("td", {}, w.check));
    tr.appendChild(el("td", { "class": "num" }, String(w.rows)));
    warn.appendChild(tr);
  });
  if (!data.warnings.length) { warn.appendChild(el("tr")).appendChild(el("td", {}, "No data-quality warnings.")); }

  // What tests and people can ask the page.
  var report = window.mrrflowReport = { charts: charts, bridgeMonth: null, cohortMode: null };
  drawBridge(months.length - 1);
  drawCohorts("customers");
})();
