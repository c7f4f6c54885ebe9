/* Charts drawn with uPlot: fitness over evaluations, throughput over time. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;

  /* Status groups drawn as point series (error and timeout share a colour group). */
  const GROUPS = [
    { label: "correct", statuses: ["correct"], color: EF.STATUS.correct.color },
    { label: "wrong", statuses: ["wrong"], color: EF.STATUS.wrong.color },
    { label: "failed to build", statuses: ["build_failed"], color: EF.STATUS.build_failed.color },
    { label: "failed to apply", statuses: ["apply_failed"], color: EF.STATUS.apply_failed.color },
    { label: "error / timeout", statuses: ["error", "timeout"], color: EF.STATUS.error.color },
    { label: "duplicate", statuses: ["duplicate"], color: EF.STATUS.duplicate.color },
  ];

  function width(el) {
    return Math.max(320, Math.floor(el.getBoundingClientRect().width || 800) - 8);
  }

  /* Keep charts as wide as their container. */
  function autosize(plot, el, height) {
    const observer = new ResizeObserver(() => {
      if (!plot.root.isConnected) return observer.disconnect();
      const w = width(el);
      if (Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height });
    });
    observer.observe(el);
    return observer;
  }

  /* Best-so-far fitness (a step line) and every settled candidate as a point coloured by its
   * status; candidates without a fitness sit on a band below the lowest fitness.
   * `points` is the API's columnar answer; onPick(i) is called with a clicked point's index. */
  EF.fitnessChart = function (el, points, onPick) {
    const n = points.id.length;
    const xs = Array.from({ length: n }, (_, i) => i + 1);
    const fits = points.fitness.filter((f, i) => points.status[i] === "correct" && typeof f === "number");
    const lo = fits.length ? Math.min(...fits) : 0;
    const hi = fits.length ? Math.max(...fits) : 1;
    const floor = lo - 0.08 * (hi - lo || Math.abs(lo) || 1);
    let best = null;
    const bestLine = xs.map((_, i) => {
      const f = points.fitness[i];
      if (points.status[i] === "correct" && typeof f === "number" && (best === null || f > best)) best = f;
      return best;
    });
    const series = GROUPS.map((g) => xs.map((_, i) => (g.statuses.includes(points.status[i]) ? (points.status[i] === "correct" ? points.fitness[i] : floor) : null)));
    const shown = GROUPS.map((g, k) => series[k].some((v) => v !== null));
    const readout = h("div", { class: "chart-readout muted" }, "Hover a point to see the program; click it to open it.");
    const holder = h("div", { class: "chart" });
    EF.replace(el, holder, readout);
    const opts = {
      width: width(el),
      height: 300,
      scales: { x: { time: false } },
      axes: [{ label: "evaluation (in the order they finished)" }, { label: "fitness", size: 70 }],
      cursor: { points: { size: 9 }, drag: { x: true, y: false } },
      legend: { live: false },
      series: [
        { label: "evaluation" },
        { label: "best so far", stroke: "#1f3a5f", width: 2, points: { show: false }, paths: uPlot.paths.stepped({ align: 1 }), spanGaps: true },
        ...GROUPS.map((g, k) => ({
          label: g.label + (g.statuses[0] === "correct" ? "" : " (no fitness)"),
          stroke: g.color,
          fill: g.color,
          width: 0,
          paths: () => null,
          points: { show: true, size: 6, stroke: g.color, fill: g.color, width: 1 },
        })),
      ],
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            if (i === null || i === undefined) return;
            const status = EF.STATUS[points.status[i]];
            EF.replace(readout, `#${points.seq[i]} · ${EF.fmt.id(points.id[i])} · ${status ? status.label : points.status[i]} · fitness ${EF.fmt.num(points.fitness[i])} · best so far ${EF.fmt.num(bestLine[i])}`);
          },
        ],
      },
    };
    const plot = new uPlot(opts, [xs, bestLine, ...series], holder);
    // Statuses no candidate has are left out of the legend.
    const absent = new Set(opts.series.filter((_, i) => i >= 2 && !shown[i - 2]).map((se) => se.label));
    for (const row of plot.root.querySelectorAll(".u-legend .u-series")) {
      if (absent.has(row.textContent.trim())) row.style.display = "none";
    }
    plot.over.addEventListener("click", () => {
      const i = plot.cursor.idx;
      if (i !== null && i !== undefined && onPick) onPick(i);
    });
    plot.over.style.cursor = "pointer";
    autosize(plot, el, 300);
    return plot;
  };

  /* Evaluations finished per minute, in time buckets. `times` are unix seconds. */
  EF.throughputChart = function (el, times) {
    if (times.length < 2) {
      EF.replace(el, h("p", { class: "muted" }, "Not enough evaluations yet."));
      return null;
    }
    const t0 = Math.min(...times);
    const t1 = Math.max(...times);
    const bucket = Math.max(1, Math.ceil((t1 - t0) / 30));
    const counts = new Array(Math.floor((t1 - t0) / bucket) + 1).fill(0);
    for (const t of times) counts[Math.floor((t - t0) / bucket)] += 1;
    const unit = t1 - t0 < 300 ? 1 : 60;
    const xs = counts.map((_, i) => (i * bucket) / unit);
    const rate = counts.map((c) => (60 * c) / bucket);
    const holder = h("div", { class: "chart" });
    EF.replace(el, holder, h("div", { class: "chart-readout muted" }, `buckets of ${bucket} s; mean ${EF.fmt.num((60 * times.length) / Math.max(t1 - t0, 1), 3)} evaluations / min`));
    const plot = new uPlot(
      {
        width: width(el),
        height: 180,
        scales: { x: { time: false } },
        axes: [{ label: (unit === 1 ? "seconds" : "minutes") + " since the first evaluation" }, { label: "evaluations / min", size: 60 }],
        legend: { show: false },
        series: [{}, { label: "evaluations / min", stroke: "#5b8def", fill: "rgba(91,141,239,0.35)", width: 1, paths: uPlot.paths.bars({ size: [0.85, 60], align: 1 }), points: { show: false } }],
      },
      [xs, rate],
      holder
    );
    autosize(plot, el, 180);
    return plot;
  };

  EF.CHART_GROUPS = GROUPS;
})();
