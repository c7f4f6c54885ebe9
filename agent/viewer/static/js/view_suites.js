/* Suites (`agent suite run`): the list (#/suites) and one suite's report (#/suite/NAME).
 * The numbers are the report's (GET /api/suites/NAME is `agent suite report --out x.json`). */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;

  /* SuiteProblem statuses (archives/records.py), in the order a suite moves through them. */
  const PROBLEM_STATUSES = ["finished", "running", "pending", "failed", "cannot_run"];
  const FAST = ["1", "1.2", "2"];
  const BASELINES = [
    ["eager", "PyTorch eager"],
    ["compile", "torch.compile"],
  ];

  function suiteHref(name) {
    return `#/suite/${encodeURIComponent(name)}`;
  }

  function statusBadge(status) {
    return h("span", { class: ["run-badge", "suite-" + status] }, status.replace("_", " "));
  }

  function statusCounts(statuses) {
    const known = PROBLEM_STATUSES.filter((s) => statuses[s]);
    const other = Object.keys(statuses).filter((s) => !PROBLEM_STATUSES.includes(s) && statuses[s]);
    return [...known, ...other].map((s) => h("span", { class: "suite-count" }, statusBadge(s), " ", EF.fmt.int(statuses[s])));
  }

  function times(x) {
    return typeof x === "number" && Number.isFinite(x) ? EF.fmt.num(x, 3) + "×" : "–";
  }

  function share(x) {
    return x === null || x === undefined ? "–" : EF.fmt.pct(x);
  }

  // -- the list ----------------------------------------------------------------------------------

  EF.views.suites = async function (root, scope) {
    const body = h("tbody");
    const load = async () => {
      const suites = await EF.api("/api/suites");
      if (!suites.length) {
        EF.replace(body, h("tr", null, h("td", { colspan: 5, class: "muted" }, "No suites in this store yet: run one with `agent suite run FOLDER`.")));
        return;
      }
      EF.replace(
        body,
        suites.map((s) =>
          h(
            "tr",
            { dataset: { suite: s.name } },
            h("td", null, h("a", { href: suiteHref(s.name) }, s.name)),
            h("td", { class: "num" }, EF.fmt.int(s.problems)),
            h("td", { class: "num" }, `${EF.fmt.int(s.correct)} (${s.problems ? EF.fmt.pct(s.correct / s.problems) : "–"})`),
            h("td", null, statusCounts(s.statuses || {})),
            h("td", { class: "num" }, EF.fmt.time(s.created_at))
          )
        )
      );
    };
    await load();
    EF.setCrumbs([["suites", "#/suites"]]);
    const head = h("tr", null, h("th", null, "suite"), h("th", { class: "num" }, "problems"), h("th", { class: "num" }, "correct"), h("th", null, "problems by status"), h("th", { class: "num" }, "created"));
    EF.replace(
      root,
      EF.section(
        "Suites",
        "suites",
        h("p", { class: "muted" }, "Benchmarks run with `agent suite run`: a budget per problem, one run per problem. Click a suite for its table."),
        h("div", { class: "table-scroll" }, h("table", { class: "grid-table suites-table" }, h("thead", null, head), body))
      )
    );
    scope.every(5000, load);
  };

  // -- one suite ---------------------------------------------------------------------------------

  const COLUMNS = [
    { label: "problem", cell: problemCell },
    { label: "status", cell: (r) => statusBadge(r.status) },
    { label: "correct", cell: (r) => (r.correct ? h("span", { class: "suite-yes" }, "yes") : h("span", { class: "suite-no" }, "no")) },
    { label: "note", cell: noteCell },
    { label: "runtime ms", num: true, cell: (r) => EF.fmt.num(r.runtime_ms) },
    { label: "vs eager", num: true, cell: (r) => times(r.speedup_eager) },
    { label: "vs compile", num: true, cell: (r) => times(r.speedup_compile) },
    { label: "roofline", num: true, cell: (r) => share(r.roofline_fraction) },
    { label: "evaluations", num: true, cell: (r) => EF.fmt.int(r.evaluations) },
    { label: "spend", num: true, cell: (r) => EF.fmt.dollars(r.dollars) },
  ];

  /* Why a problem is not correct, or that its correct program was not timed (no GPU). */
  function noteCell(r) {
    if (!r.correct) return h("span", { class: "suite-why" }, r.why || "");
    return r.timed === false ? h("span", { class: "suite-why" }, "not timed (no GPU)") : "";
  }

  function problemCell(r) {
    if (!r.run_id) return h("span", { class: "suite-problem" }, r.name);
    return h("a", { href: `#/run/${encodeURIComponent(r.run_id)}`, class: "suite-problem", title: `run ${r.run_id}` }, r.name);
  }

  function overall(report) {
    const n = report.problems;
    const untimed = BASELINES.every(([key]) => FAST.every((p) => ((report.fast || {})[key] || {})[p] === null));
    const fastTable = h(
      "table",
      { class: "grid-table suite-fast" },
      h("thead", null, h("tr", null, h("th", null, "faster than"), FAST.map((p) => h("th", { class: "num" }, `fast_${p}`)), h("th", { class: "num" }, "geometric mean"))),
      h(
        "tbody",
        null,
        BASELINES.map(([key, label]) =>
          h(
            "tr",
            { dataset: { baseline: key } },
            h("td", null, label),
            FAST.map((p) => h("td", { class: "num" }, share(((report.fast || {})[key] || {})[p]))),
            h("td", { class: "num" }, times((report.geomean_speedup || {})[key]))
          )
        )
      )
    );
    return [
      h(
        "div",
        { class: "cards" },
        EF.card("problems", EF.fmt.int(n)),
        EF.card("correct", `${EF.fmt.int(report.correct)} of ${EF.fmt.int(n)}`, n ? EF.fmt.pct(report.correct / n) : null),
        EF.card("evaluations", EF.fmt.int(report.evaluations)),
        EF.card("spend", EF.fmt.dollars(report.dollars))
      ),
      h("p", { class: "suite-statuses" }, statusCounts(report.statuses || {})),
      fastTable,
      h(
        "p",
        { class: "muted small" },
        "fast_p: the share of all problems that are correct and more than p times faster than the baseline (problems that could not run count as not fast). The geometric mean is over the correct, timed problems.",
        untimed ? " Nothing was timed (no GPU): no problem counts as faster." : ""
      ),
    ];
  }

  function configTable(config) {
    const keys = ["language", "evaluations", "dollars", "parallel", "model", "strategy", "workers", "share_knowledge"];
    const rows = keys.filter((k) => config[k] !== null && config[k] !== undefined).map((k) => [k.replace("_", " "), String(config[k])]);
    const paths = Array.isArray(config.paths) ? config.paths : [];
    if (paths.length) rows.unshift(["paths", h("span", { class: "mono" }, paths.join(", "))]);
    return rows.length ? EF.kvTable(rows, "small") : null;
  }

  EF.views.suite = async function (root, scope, name) {
    const render = (report) => {
      const suite = report.suite || { name };
      const rows = report.rows || [];
      EF.replace(
        root,
        h(
          "div",
          { class: "run-header suite-header" },
          h("h1", null, h("span", { class: "suite-name" }, suite.name)),
          h("div", { class: "meta muted" }, `suite · created ${EF.fmt.time(suite.created_at)}`),
          configTable(suite.config || {})
        ),
        EF.section("Overall", "suite-overall", overall(report)),
        EF.section(
          "Problems",
          "suite-problems",
          h("p", { class: "muted" }, "Each problem's run opens from its name; problems that could not run say why."),
          h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              { class: "grid-table suite-table" },
              h("thead", null, h("tr", null, COLUMNS.map((c) => h("th", { class: c.num ? "num" : null }, c.label)))),
              h(
                "tbody",
                null,
                rows.map((r) => h("tr", { dataset: { problem: r.name, status: r.status } }, COLUMNS.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(r)))))
              )
            )
          )
        )
      );
    };
    let shown = null;
    const load = async () => {
      const report = await EF.api(`/api/suites/${encodeURIComponent(name)}`);
      const text = JSON.stringify(report);
      if (text === shown) return; // unchanged: keep the page (and the reader's place) as it is
      shown = text;
      render(report);
    };
    await load();
    EF.setCrumbs([
      ["suites", "#/suites"],
      [name, suiteHref(name)],
    ]);
    scope.every(5000, load);
  };
})();
