/* The lineage tree: a tidy tree (d3.tree) laid out left to right by generation, zoomable,
 * coloured by fitness, failed children small and muted, the path to the best program drawn
 * thick. Levels are loaded one generation at a time (paged) until a node budget is reached;
 * more levels, or one node's children, load on request. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;
  const s = EF.s;
  const NODE_BUDGET = 1500;
  const PAGE = 500;
  const HEIGHT = 540;
  const MIN_READABLE_SCALE = 0.25;
  const BIG_RUN = 2000; // from this many programs on, failed children start hidden

  EF.lineageTree = function (el, runId) {
    const base = `/api/runs/${encodeURIComponent(runId)}`;
    const nodes = new Map();
    let meta = { levels: [], total: 0, best_path: [] };
    let levelsLoaded = 0;
    let showFailed = true;
    let transform = null;

    const svg = d3.create("svg").attr("class", "tree").attr("height", HEIGHT);
    const viewport = svg.append("g");
    const zoom = d3.zoom().scaleExtent([0.02, 8]).on("zoom", (ev) => {
      transform = ev.transform;
      viewport.attr("transform", ev.transform);
    });
    svg.call(zoom).on("dblclick.zoom", null);

    const status = h("span", { class: "muted tree-status" });
    const nextButton = h("button", { type: "button", onclick: () => loadLevel(levelsLoaded).then(() => render(false)) }, "Load next level");
    const failedBox = h("input", { type: "checkbox", checked: true, onchange: (ev) => ((showFailed = ev.target.checked), render(false)) });
    const controls = h(
      "div",
      { class: "tree-controls" },
      h("button", { type: "button", onclick: () => fit() }, "Fit"),
      nextButton,
      h("label", null, failedBox, " show failed children"),
      status
    );
    const legendBox = h("div", { class: "tree-legend muted" });
    EF.replace(el, controls, h("div", { class: "tree-box" }, svg.node()), legendBox);

    function add(items) {
      for (const b of items) nodes.set(b.id, b);
    }

    async function loadLevel(index) {
      const level = meta.levels[index];
      if (!level) return;
      for (let offset = 0; offset < level.count; offset += PAGE) {
        const page = await EF.api(`${base}/tree/${level.generation}${EF.query({ offset, limit: PAGE })}`);
        add(page.items);
        if (page.items.length < PAGE) break;
      }
      levelsLoaded = Math.max(levelsLoaded, index + 1);
    }

    async function expand(id) {
      for (let offset = 0; ; offset += PAGE) {
        const page = await EF.api(`${base}/programs/${encodeURIComponent(id)}/children${EF.query({ offset, limit: PAGE })}`);
        add(page.items);
        if (page.items.length < PAGE) break;
      }
      render(false);
    }

    let firstLoad = true;
    async function load() {
      meta = await EF.api(`${base}/tree`);
      if (firstLoad && meta.total >= BIG_RUN) {
        showFailed = false;
        failedBox.checked = false;
      }
      firstLoad = false;
      const wanted = Math.max(levelsLoaded, 1);
      nodes.clear();
      levelsLoaded = 0;
      for (let i = 0; i < meta.levels.length; i++) {
        if (i >= wanted && nodes.size >= NODE_BUDGET) break;
        await loadLevel(i);
      }
      add(meta.best_path);
    }

    function visible() {
      const shown = [...nodes.values()].filter((b) => showFailed || !EF.FAILED.has(b.status) || bestIds().has(b.id));
      const ids = new Set(shown.map((b) => b.id));
      const root = { id: "__root__", parent_id: null, seq: 0, virtual: true };
      const rows = shown.map((b) => ({ ...b, parent: b.parent_id && ids.has(b.parent_id) ? b.parent_id : "__root__" }));
      const roots = rows.filter((r) => r.parent === "__root__");
      if (roots.length === 1) roots[0].parent = null;
      else rows.push({ ...root, parent: null });
      return d3.stratify().id((d) => d.id).parentId((d) => d.parent)(rows);
    }

    function bestIds() {
      return new Set(meta.best_path.map((b) => b.id));
    }

    function render(refit) {
      viewport.selectAll("*").remove();
      if (!nodes.size) {
        status.textContent = "No programs yet.";
        return;
      }
      const root = visible().sort((a, b) => a.data.seq - b.data.seq);
      d3.tree().nodeSize([16, 120])(root);
      const best = bestIds();
      const fits = [...nodes.values()].filter((b) => b.status === "correct" && typeof b.fitness === "number").map((b) => b.fitness);
      const lo = fits.length ? Math.min(...fits) : 0;
      const hi = fits.length ? Math.max(...fits) : 1;
      const color = d3.scaleSequential(d3.interpolateViridis).domain([lo, hi > lo ? hi : lo + 1]);
      const all = root.descendants().filter((d) => !d.data.virtual);
      const links = root.links().filter((l) => !l.source.data.virtual);
      viewport
        .append("g")
        .attr("class", "links")
        .selectAll("path")
        .data(links)
        .join("path")
        .attr("class", (l) => (best.has(l.target.data.id) && best.has(l.source.data.id) ? "link best" : EF.FAILED.has(l.target.data.status) ? "link failed" : "link"))
        .attr("d", d3.linkHorizontal().x((d) => d.y).y((d) => d.x));
      const g = viewport
        .append("g")
        .attr("class", "nodes")
        .selectAll("g")
        .data(all)
        .join("g")
        .attr("class", (d) => ["node", EF.FAILED.has(d.data.status) ? "failed" : d.data.status, best.has(d.data.id) ? "best" : ""].join(" "))
        .attr("transform", (d) => `translate(${d.y},${d.x})`)
        .on("click", (ev, d) => {
          location.hash = `#/run/${encodeURIComponent(runId)}/program/${encodeURIComponent(d.data.id)}`;
        });
      g.append("circle")
        .attr("r", (d) => (EF.FAILED.has(d.data.status) || d.data.status === "duplicate" ? 3.5 : 6))
        .attr("fill", (d) => (d.data.status === "correct" && typeof d.data.fitness === "number" ? color(d.data.fitness) : d.data.status === "pending" ? "#fff" : "#c3c7ce"))
        .attr("stroke", (d) => (best.has(d.data.id) ? "#e8590c" : d.data.status === "pending" ? EF.STATUS.pending.color : EF.FAILED.has(d.data.status) ? (EF.STATUS[d.data.status] || {}).color : "#33415c"));
      g.append("title").text((d) => `#${d.data.seq} ${EF.fmt.id(d.data.id)} · ${(EF.STATUS[d.data.status] || {}).label || d.data.status} · fitness ${EF.fmt.num(d.data.fitness)} · generation ${d.data.generation}${d.data.error ? "\n" + d.data.error : ""}`);
      g.filter((d) => best.has(d.data.id) && d.data.id === meta.best_path[meta.best_path.length - 1].id)
        .append("text")
        .attr("class", "best-label")
        .attr("x", 10)
        .attr("dy", "0.32em")
        .text((d) => `best ${EF.fmt.num(d.data.fitness)}`);
      const loadedChildren = new Map();
      for (const b of nodes.values()) if (b.parent_id) loadedChildren.set(b.parent_id, (loadedChildren.get(b.parent_id) || 0) + 1);
      g.filter((d) => (d.data.children || 0) > (loadedChildren.get(d.data.id) || 0))
        .append("text")
        .attr("class", "more")
        .attr("x", 9)
        .attr("dy", "0.32em")
        .text((d) => `+${d.data.children - (loadedChildren.get(d.data.id) || 0)}`)
        .on("click", (ev, d) => {
          ev.stopPropagation();
          expand(d.data.id);
        });
      const levels = meta.levels.length;
      const hidden = nodes.size - all.length;
      status.textContent = `${all.length} of ${meta.total} programs shown${hidden ? ` (${hidden} failed hidden)` : ""} · ${levelsLoaded} of ${levels} generations loaded`;
      nextButton.disabled = levelsLoaded >= levels;
      EF.replace(
        legendBox,
        h("span", { class: "swatch", style: { background: "linear-gradient(90deg," + [0, 0.25, 0.5, 0.75, 1].map((t) => d3.interpolateViridis(t)).join(",") + ")" } }),
        ` fitness ${EF.fmt.num(lo, 3)} … ${EF.fmt.num(hi, 3)} · `,
        h("span", { class: "swatch best" }),
        " path to the best program · small grey nodes: failed children · +n: children not loaded (click to load) · drag to pan, scroll to zoom"
      );
      if (refit || !transform) {
        // A tree too big to read whole opens on its root, where the best path starts.
        if (fit() < MIN_READABLE_SCALE) focus(root.descendants().find((d) => !d.data.virtual), 0.8);
      } else svg.call(zoom.transform, transform);
    }

    function fit() {
      const box = viewport.node().getBBox();
      const width = svg.node().getBoundingClientRect().width || 900;
      if (!box.width && !box.height) return 1;
      const scale = Math.min(2, 0.92 * Math.min(width / (box.width + 40), HEIGHT / (box.height + 40)));
      const tx = (width - scale * box.width) / 2 - scale * box.x;
      const ty = (HEIGHT - scale * box.height) / 2 - scale * box.y;
      svg.call(zoom.transform, d3.zoomIdentity.translate(tx, ty).scale(scale));
      return scale;
    }

    function focus(node, scale) {
      if (!node) return;
      svg.call(zoom.transform, d3.zoomIdentity.translate(40 - scale * node.y, HEIGHT / 2 - scale * node.x).scale(scale));
    }

    return {
      async refresh(first) {
        await load();
        render(Boolean(first));
      },
      get total() {
        return meta.total;
      },
    };
  };
})();
