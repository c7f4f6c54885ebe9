/* The MAP-Elites grid as a heatmap of elite fitness per cell (SVG). Grids of more than two
 * descriptors are shown as two chosen axes, each cell holding the best elite over the rest. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;
  const s = EF.s;

  function tickEvery(bins) {
    return Math.max(1, Math.ceil((bins + 1) / 7));
  }

  /* The elites projected on axes (xa, ya): Map "x,y" -> elites, best first. */
  function project(elites, xa, ya) {
    const cells = new Map();
    for (const e of elites) {
      const key = `${e.cell[xa]},${ya === null ? 0 : e.cell[ya]}`;
      if (!cells.has(key)) cells.set(key, []);
      cells.get(key).push(e);
    }
    for (const list of cells.values()) list.sort((a, b) => b.fitness - a.fitness);
    return cells;
  }

  function draw(state, runId, xa, ya, onPick) {
    const axes = state.axes;
    const ax = axes[xa];
    const ay = ya === null ? null : axes[ya];
    const binsX = ax.bins;
    const binsY = ay ? ay.bins : 1;
    const margin = { left: ay ? 78 : 20, right: 16, top: 12, bottom: 52 };
    const cellW = Math.max(8, Math.min(44, Math.floor(640 / binsX)));
    const cellH = ay ? Math.max(8, Math.min(44, Math.floor(420 / binsY), cellW)) : 44;
    const width = margin.left + binsX * cellW + margin.right;
    const height = margin.top + binsY * cellH + margin.bottom;
    const cells = project(state.elites, xa, ya);
    const fits = state.elites.map((e) => e.fitness);
    const color = d3.scaleSequential(d3.interpolateViridis).domain(fits.length ? [Math.min(...fits), Math.max(...fits) + (Math.max(...fits) === Math.min(...fits) ? 1e-9 : 0)] : [0, 1]);
    const svg = s("svg", { class: "heatmap", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "MAP-Elites grid" });
    for (let x = 0; x < binsX; x++) {
      for (let y = 0; y < binsY; y++) {
        const list = cells.get(`${x},${y}`);
        const px = margin.left + x * cellW;
        const py = margin.top + (binsY - 1 - y) * cellH;
        const title = list
          ? `cell (${x}${ay ? ", " + y : ""}): best fitness ${EF.fmt.num(list[0].fitness)}, program ${EF.fmt.id(list[0].program_id)}${list.length > 1 ? `, ${list.length} elites` : ""}`
          : `cell (${x}${ay ? ", " + y : ""}): empty`;
        const rect = s(
          "rect",
          { class: list ? "cell filled" : "cell empty", x: px + 0.5, y: py + 0.5, width: cellW - 1, height: cellH - 1, rx: 2, fill: list ? color(list[0].fitness) : "#eef0f3", dataset: { cell: `${x},${y}` } },
          s("title", null, title)
        );
        if (list) rect.addEventListener("click", () => onPick(list, rect));
        svg.appendChild(rect);
      }
    }
    const every = tickEvery(binsX);
    ax.edges.forEach((edge, i) => {
      if (i % every && i !== binsX) return;
      svg.appendChild(s("text", { class: "tick", x: margin.left + i * cellW, y: margin.top + binsY * cellH + 14, "text-anchor": "middle" }, EF.fmt.num(edge, 3)));
    });
    svg.appendChild(s("text", { class: "axis-title", x: margin.left + (binsX * cellW) / 2, y: height - 10, "text-anchor": "middle" }, ax.name + (ax.log ? " (log scale)" : "")));
    if (ay) {
      const everyY = tickEvery(binsY);
      ay.edges.forEach((edge, i) => {
        if (i % everyY && i !== binsY) return;
        svg.appendChild(s("text", { class: "tick", x: margin.left - 6, y: margin.top + (binsY - i) * cellH + 4, "text-anchor": "end" }, EF.fmt.num(edge, 3)));
      });
      const cy = margin.top + (binsY * cellH) / 2;
      svg.appendChild(s("text", { class: "axis-title", x: 14, y: cy, transform: `rotate(-90 14 ${cy})`, "text-anchor": "middle" }, ay.name + (ay.log ? " (log scale)" : "")));
    }
    return { svg, color, cells };
  }

  function legend(color) {
    const [lo, hi] = color.domain();
    const steps = 24;
    const svg = s("svg", { class: "legend", width: 220, height: 34 });
    for (let i = 0; i < steps; i++) svg.appendChild(s("rect", { x: 10 + i * 8, y: 2, width: 8, height: 12, fill: color(lo + ((hi - lo) * (i + 0.5)) / steps) }));
    svg.appendChild(s("text", { class: "tick", x: 10, y: 28 }, EF.fmt.num(lo, 3)));
    svg.appendChild(s("text", { class: "tick", x: 202, y: 28, "text-anchor": "end" }, EF.fmt.num(hi, 3)));
    return h("div", { class: "legend-row" }, h("span", { class: "muted" }, "elite fitness"), svg);
  }

  function eliteDetails(runId, list) {
    return list.map((e) =>
      h(
        "div",
        { class: "elite" },
        h("div", null, "elite ", EF.programLink(runId, e.program_id), " · fitness ", h("strong", null, EF.fmt.num(e.fitness)), " · cell ", `(${e.cell.join(", ")})`),
        EF.kvTable(Object.entries(e.descriptors || {}).map(([k, v]) => [k, EF.fmt.num(v)]), "small")
      )
    );
  }

  /* Render a map_elites snapshot into `el`. */
  EF.heatmap = function (el, state, runId) {
    const stats = state.stats || {};
    const head = h(
      "div",
      { class: "cards small" },
      EF.card("cells filled", `${EF.fmt.int(stats.filled)} / ${EF.fmt.int(stats.cells)}`),
      EF.card("coverage", EF.fmt.pct(stats.coverage)),
      EF.card("QD score", EF.fmt.num(stats.qd_score)),
      EF.card("best fitness", EF.fmt.num(stats.best_fitness))
    );
    if (!state.axes || !state.axes.length) {
      EF.replace(el, head, h("p", { class: "muted" }, "The grid has no bounds yet: no program is correct so far."));
      return;
    }
    const dims = state.axes.length;
    let xa = 0;
    let ya = dims > 1 ? 1 : null;
    const plotBox = h("div", { class: "heatmap-box" });
    const info = h("div", { class: "heatmap-info" }, h("p", { class: "muted" }, "Click a coloured cell to see its elite."));
    const pickers = h("div", { class: "pickers" });
    const render = () => {
      const drawn = draw(state, runId, xa, ya, (list, rect) => {
        plotBox.querySelectorAll("rect.selected").forEach((r) => r.classList.remove("selected"));
        rect.classList.add("selected");
        EF.replace(info, eliteDetails(runId, list));
      });
      EF.replace(plotBox, drawn.svg, legend(drawn.color));
    };
    if (dims > 2) {
      const select = (value, onChange) =>
        h("select", { onchange: (ev) => onChange(Number(ev.target.value)) }, state.axes.map((a, i) => h("option", { value: i, selected: i === value }, a.name)));
      EF.replace(pickers, "x axis ", select(xa, (v) => ((xa = v), render())), "  y axis ", select(ya, (v) => ((ya = v), render())), h("span", { class: "muted" }, "  (each cell shows the best elite over the other descriptors)"));
    }
    render();
    EF.replace(el, head, pickers, h("div", { class: "heatmap-layout" }, plotBox, info));
  };
})();
