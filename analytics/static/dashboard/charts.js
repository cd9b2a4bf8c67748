// The dashboard's charts: Chart.js drawing the JSON blocks the page carries (json_script), nothing else.
// No inline script or style: the Content-Security-Policy allows only our own files.
"use strict";

(function () {
  const COLOURS = ["#264b5d", "#c0621d", "#1e6b34", "#7b3f98", "#a1261b", "#2f7fb5", "#8a6d1d", "#4d4d4d"];
  const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]]; // lines told apart without colour too

  function data(id) {
    const block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  }

  function when(ms, granularity) {
    const iso = new Date(ms).toISOString();
    return granularity === "hour" ? iso.slice(5, 13).replace("T", " ") + "h" : iso.slice(0, 10);
  }

  // Vertical lines at deploys (dashed) and rollbacks (red), drawn after the datasets.
  const markerLines = {
    id: "markerLines",
    afterDatasetsDraw(chart, _args, options) {
      const scale = chart.scales.x;
      const area = chart.chartArea;
      const context = chart.ctx;
      for (const marker of options.markers || []) {
        const x = scale.getPixelForValue(marker.x);
        if (x < area.left || x > area.right) continue;
        context.save();
        context.strokeStyle = marker.kind === "rollback" ? "#a1261b" : "#5b6b73";
        context.setLineDash(marker.kind === "rollback" ? [] : [4, 3]);
        context.beginPath();
        context.moveTo(x, area.top);
        context.lineTo(x, area.bottom);
        context.stroke();
        context.restore();
      }
    },
  };

  function seriesChart(canvas, spec) {
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: spec.lines.map((line, index) => ({
          label: line.label,
          data: line.points.map(([x, y]) => ({ x: x, y: y })),
          borderColor: COLOURS[index % COLOURS.length],
          backgroundColor: COLOURS[index % COLOURS.length],
          borderDash: DASHES[index % DASHES.length],
          pointRadius: 2,
          spanGaps: false,
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        scales: {
          x: { type: "linear", min: spec.start, max: spec.end, ticks: { maxTicksLimit: 6, callback: (value) => when(value, spec.granularity) } },
          y: { beginAtZero: true },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { title: (items) => when(items[0].parsed.x, spec.granularity) } },
          markerLines: { markers: spec.markers },
        },
      },
      plugins: [markerLines],
    });
  }

  function barChart(canvas, labels, values, label) {
    return new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: label, data: values, backgroundColor: COLOURS[0] }] },
      options: { animation: false, maintainAspectRatio: false, indexAxis: "y", plugins: { legend: { display: false } } },
    });
  }

  function forecastChart(canvas, days) {
    const labels = days.map((day) => day.date);
    const line = (label, key, colour, dash) => ({
      label: label, data: days.map((day) => day[key]), borderColor: colour, backgroundColor: colour, borderDash: dash, pointRadius: 2,
    });
    return new Chart(canvas, {
      type: "line",
      data: { labels: labels, datasets: [line("forecast", "executions", COLOURS[0], []), line("low", "executionsLow", "#5b6b73", [4, 3]), line("high", "executionsHigh", "#5b6b73", [4, 3])] },
      options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true } }, plugins: { legend: { position: "bottom" } } },
    });
  }

  // Each variant's estimate with its confidence interval, drawn as a bar from low to high and a point.
  function intervalChart(canvas, spec) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: spec.labels,
        datasets: [
          { type: "bar", label: "confidence interval", data: spec.intervals, backgroundColor: "rgba(38, 75, 93, 0.35)", borderColor: COLOURS[0], borderWidth: 1 },
          { type: "scatter", label: "estimate", data: spec.estimates.map((y, index) => ({ x: spec.labels[index], y: y })), backgroundColor: COLOURS[1], pointRadius: 5 },
        ],
      },
      options: { animation: false, maintainAspectRatio: false, indexAxis: "x", plugins: { legend: { position: "bottom" } } },
    });
  }

  function draw() {
    if (typeof Chart === "undefined") return;
    const series = data("series-charts");
    if (series) {
      for (const canvas of document.querySelectorAll("canvas[data-series]")) {
        seriesChart(canvas, series[Number(canvas.dataset.series)]);
      }
    }
    const regions = data("regions-data");
    const regionCanvas = document.getElementById("chart-regions");
    if (regions && regionCanvas) {
      barChart(regionCanvas, regions.map((row) => row.region), regions.map((row) => row.executions), "executions");
    }
    const forecast = data("forecast-data");
    const forecastCanvas = document.getElementById("chart-forecast");
    if (forecast && forecastCanvas) forecastChart(forecastCanvas, forecast);
    const intervals = data("interval-charts");
    if (intervals) {
      for (const canvas of document.querySelectorAll("canvas[data-interval]")) {
        intervalChart(canvas, intervals[Number(canvas.dataset.interval)]);
      }
    }
    document.body.dataset.chartsDrawn = String(Object.keys(Chart.instances).length);
  }

  // A page that refreshes itself while something runs (an A/B test): reloaded after data-refresh seconds.
  function refresh() {
    const seconds = Number(document.body.dataset.refresh || 0);
    if (seconds > 0) window.setTimeout(() => window.location.reload(), seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", () => { draw(); refresh(); });
})();
