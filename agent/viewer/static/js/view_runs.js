/* The runs page: every run in the store(s), sortable, refreshed while shown. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;

  const COLUMNS = [
    { key: "id", label: "run", value: (r) => r.id, cell: (r) => h("a", { href: `#/run/${encodeURIComponent(r.id)}`, class: "mono" }, EF.fmt.id(r.id)) },
    { key: "task", label: "task", value: (r) => r.task, cell: (r) => r.task },
    { key: "strategy", label: "strategy", value: (r) => r.strategy, cell: (r) => r.strategy },
    { key: "status", label: "status", value: (r) => r.status, cell: (r) => EF.runBadge(r.status) },
    { key: "evaluated", label: "evaluations", num: true, value: (r) => r.evaluated, cell: (r) => EF.fmt.int(r.evaluated) },
    { key: "best_fitness", label: "best fitness", num: true, value: (r) => r.best_fitness, cell: (r) => EF.fmt.num(r.best_fitness) },
    { key: "cost", label: "spend", num: true, value: (r) => r.cost, cell: (r) => EF.fmt.dollars(r.cost) },
    { key: "started_at", label: "started", num: true, value: (r) => r.started_at, cell: (r) => EF.fmt.time(r.started_at) },
    { key: "duration", label: "duration", num: true, value: duration, cell: (r) => EF.fmt.seconds(duration(r)) },
  ];

  function duration(r) {
    const end = r.ended_at || r.last_activity || r.started_at;
    return end - r.started_at;
  }

  EF.views.runs = async function (root, scope) {
    let sort = { key: "started_at", desc: true };
    let runs = [];
    const body = h("tbody");
    const headRow = h("tr");
    const render = () => {
      const col = COLUMNS.find((c) => c.key === sort.key);
      const rows = runs.slice().sort((a, b) => {
        const x = col.value(a);
        const y = col.value(b);
        const cmp = x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : typeof x === "number" ? x - y : String(x).localeCompare(String(y));
        return sort.desc ? -cmp : cmp;
      });
      EF.replace(
        headRow,
        COLUMNS.map((c) =>
          h("th", { class: ["sortable", c.num && "num", sort.key === c.key && "sorted"], onclick: () => ((sort = { key: c.key, desc: sort.key === c.key ? !sort.desc : !!c.num }), render()) }, c.label, sort.key === c.key ? (sort.desc ? " ▼" : " ▲") : "")
        )
      );
      if (!rows.length) EF.replace(body, h("tr", null, h("td", { colspan: COLUMNS.length, class: "muted" }, "No runs in this store yet: start one with `agent evolve TASK.yaml`.")));
      else EF.replace(body, rows.map((r) => h("tr", { dataset: { run: r.id } }, COLUMNS.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(r))))));
    };
    const load = async () => {
      runs = (await EF.api("/api/runs")).runs;
      render();
    };
    await load();
    EF.setCrumbs([]);
    EF.replace(root, EF.section("Runs", "runs", h("p", { class: "muted" }, "Click a column to sort; click a run to open it."), h("div", { class: "table-scroll" }, h("table", { class: "grid-table runs-table" }, h("thead", null, headRow), body))));
    scope.every(5000, load);
  };
})();
