/* The run page: summary, fitness over evaluations, the search's own view, the lineage tree,
 * spend, what the learning proposer did (when it recorded anything), time, and every program
 * (paged). Refreshes itself while the run is running. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;
  const PAGE = 50;

  function kernelCards(best) {
    const m = (best && best.metrics) || {};
    if (!["speedup", "speedup_vs_compile", "roofline_fraction"].some((k) => k in m)) return [];
    return [
      EF.card("best speedup vs eager", "speedup" in m ? EF.fmt.num(m.speedup, 3) + "×" : "–"),
      EF.card("vs torch.compile", "speedup_vs_compile" in m ? EF.fmt.num(m.speedup_vs_compile, 3) + "×" : "–"),
      EF.card("fraction of roofline", EF.fmt.pct(m.roofline_fraction)),
    ];
  }

  function header(run) {
    const end = run.ended_at || run.last_activity || run.started_at;
    const failed = Object.entries(run.counts).filter(([k]) => EF.FAILED.has(k)).reduce((a, [, v]) => a + v, 0);
    const budget = run.budget && run.budget.evaluations;
    const minutes = (end - run.started_at) / 60;
    return h(
      "div",
      { class: "run-header" },
      h("h1", null, run.task, " ", EF.runBadge(run.status)),
      h("div", { class: "meta muted" }, `run ${run.id} · ${run.strategy} · seed ${run.seed} · started ${EF.fmt.time(run.started_at)} · ${EF.fmt.seconds(end - run.started_at)}${run.ended_at ? "" : " so far"}`),
      run.notes ? h("div", { class: "notes" }, run.notes) : null,
      h(
        "div",
        { class: "cards" },
        EF.card("evaluations", EF.fmt.int(run.evaluated) + (budget ? ` / ${EF.fmt.int(budget)}` : "")),
        EF.card("correct", EF.fmt.int(run.counts.correct || 0)),
        EF.card("failed", EF.fmt.int(failed)),
        EF.card("best fitness", EF.fmt.num(run.best_fitness), run.best ? EF.programLink(run.id, run.best.id, "open " + EF.fmt.id(run.best.id)) : null),
        EF.card("LLM spend", EF.fmt.dollars(run.cost), `${EF.fmt.int(run.llm_calls)} calls · ${EF.fmt.int(run.tokens)} tokens`),
        EF.card("throughput", minutes > 0 ? EF.fmt.num(run.evaluated / minutes, 3) + " / min" : "–", "evaluations per minute"),
        ...kernelCards(run.best)
      ),
      h(
        "div",
        { class: "chips" },
        EF.STATUSES.filter((s) => run.counts[s.key]).map((s) => h("span", { class: "chip", dataset: { status: s.key } }, EF.badge(s.key), " ", EF.fmt.int(run.counts[s.key])))
      )
    );
  }

  function spendTable(spend) {
    if (!spend.models.length) return h("p", { class: "muted" }, "No LLM calls in this run (the built-in tuner proposed).");
    const max = Math.max(...spend.models.map((m) => m.cost), 1e-12);
    return h(
      "table",
      { class: "grid-table" },
      h("thead", null, h("tr", null, ["model", "calls", "failed", "prompt tokens", "completion tokens", "dollars", "mean latency"].map((c, i) => h("th", { class: i ? "num" : null }, c)))),
      h(
        "tbody",
        null,
        spend.models.map((m) =>
          h("tr", null, h("td", { class: "mono" }, m.model), h("td", { class: "num" }, EF.fmt.int(m.calls)), h("td", { class: "num" }, EF.fmt.int(m.failed)), h("td", { class: "num" }, EF.fmt.int(m.prompt_tokens)), h("td", { class: "num" }, EF.fmt.int(m.completion_tokens)), h("td", { class: "num" }, EF.fmt.dollars(m.cost), EF.bar(m.cost / max, "#e8912d")), h("td", { class: "num" }, EF.fmt.seconds(m.mean_latency)))
        ),
        h("tr", { class: "total" }, h("td", null, "total"), h("td", { colspan: 4 }), h("td", { class: "num" }, EF.fmt.dollars(spend.total)), h("td"))
      )
    );
  }

  function stageTable(stages) {
    if (!stages.stages.length) return h("p", { class: "muted" }, "No evaluation stage recorded yet.");
    const total = stages.stages.reduce((a, st) => a + st.total_seconds, 0) || 1;
    return h(
      "table",
      { class: "grid-table" },
      h("thead", null, h("tr", null, ["stage", "runs", "failures", "total", "share", "mean", "max"].map((c, i) => h("th", { class: i ? "num" : null }, c)))),
      h(
        "tbody",
        null,
        stages.stages.map((st) =>
          h("tr", null, h("td", { class: "mono" }, st.stage), h("td", { class: "num" }, EF.fmt.int(st.runs)), h("td", { class: "num" }, EF.fmt.int(st.failures)), h("td", { class: "num" }, EF.fmt.seconds(st.total_seconds)), h("td", { class: "num" }, EF.fmt.pct(st.total_seconds / total), EF.bar(st.total_seconds / total)), h("td", { class: "num" }, EF.fmt.seconds(st.mean_seconds)), h("td", { class: "num" }, EF.fmt.seconds(st.max_seconds)))
        )
      )
    );
  }

  /* The paged, filterable table of the run's programs. */
  function programsTable(runId) {
    const base = `/api/runs/${encodeURIComponent(runId)}/programs`;
    let offset = 0;
    let status = "";
    let order = "seq";
    const body = h("tbody");
    const info = h("span", { class: "muted" });
    const prev = h("button", { type: "button", onclick: () => ((offset = Math.max(0, offset - PAGE)), load()) }, "← previous");
    const next = h("button", { type: "button", onclick: () => ((offset += PAGE), load()) }, "next →");
    const statusSelect = h("select", { onchange: (ev) => ((status = ev.target.value), (offset = 0), load()) }, h("option", { value: "" }, "all statuses"), EF.STATUSES.map((s) => h("option", { value: s.key }, s.label)));
    const orderSelect = h("select", { onchange: (ev) => ((order = ev.target.value), (offset = 0), load()) }, [["seq", "in order proposed"], ["fitness", "best first"], ["evaluated", "in order evaluated"]].map(([v, l]) => h("option", { value: v }, l)));
    async function load() {
      const page = await EF.api(base + EF.query({ status, order, offset, limit: PAGE }));
      EF.replace(
        body,
        page.items.map((p) =>
          h("tr", { class: EF.FAILED.has(p.status) ? "failed-row" : null }, h("td", { class: "num" }, p.seq), h("td", null, EF.programLink(runId, p.id)), h("td", null, EF.badge(p.status)), h("td", { class: "num" }, EF.fmt.num(p.fitness)), h("td", { class: "num" }, p.generation), h("td", null, p.parent_id ? EF.programLink(runId, p.parent_id) : "–"), h("td", { class: "num" }, p.children), h("td", { class: "mono small" }, p.proposer), h("td", { class: "error-cell", title: p.error || "" }, p.error || ""))
        )
      );
      info.textContent = page.total ? `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}` : "none";
      prev.disabled = page.offset === 0;
      next.disabled = page.offset + page.items.length >= page.total;
    }
    const table = h("table", { class: "grid-table programs-table" }, h("thead", null, h("tr", null, ["#", "program", "status", "fitness", "gen", "parent", "children", "proposer", "error"].map((c) => h("th", null, c)))), body);
    return { node: h("div", null, h("div", { class: "toolbar" }, statusSelect, orderSelect, prev, next, info), h("div", { class: "table-scroll" }, table)), load };
  }

  EF.views.run = async function (root, scope, runRef) {
    let run = (await EF.api(`/api/runs/${encodeURIComponent(runRef)}`)).run;
    const base = `/api/runs/${encodeURIComponent(run.id)}`;
    EF.setCrumbs([[run.task + " · " + EF.fmt.id(run.id), `#/run/${run.id}`]]);
    const headBox = h("div");
    const chartBox = h("div", { class: "chart-box" });
    const strategyBox = h("div");
    const treeBox = h("div");
    const spendBox = h("div");
    const spendOutcomesBox = h("div");
    const proposerBox = h("div");
    const stageBox = h("div");
    const throughputBox = h("div", { class: "chart-box" });
    const programs = programsTable(run.id);
    EF.replace(
      root,
      headBox,
      EF.section("Fitness over evaluations", "fitness", chartBox),
      EF.section("The search", "search", strategyBox),
      EF.section("Lineage", "lineage", treeBox),
      EF.section("LLM spend by model", "spend", spendBox),
      spendOutcomesBox,
      proposerBox,
      h("div", { class: "two-col" }, EF.section("Evaluation time by stage", "stages", stageBox), EF.section("Throughput", "throughput", throughputBox)),
      EF.section("Programs", "programs", programs.node)
    );
    const tree = EF.lineageTree(treeBox, run.id);
    let points = null;
    const refreshData = async () => {
      points = await EF.api(`${base}/points`);
      EF.fitnessChart(chartBox, points, (i) => (location.hash = `#/run/${encodeURIComponent(run.id)}/program/${encodeURIComponent(points.id[i])}`));
      const evaluated = points.done_at.filter((_, i) => !["apply_failed", "duplicate"].includes(points.status[i]));
      EF.throughputChart(throughputBox, evaluated);
      EF.strategyView(strategyBox, run.id, await EF.api(`${base}/strategy`));
      EF.replace(spendBox, spendTable(await EF.api(`${base}/spend`)));
      EF.replace(spendOutcomesBox, EF.spendOutcomesPanel(await EF.api(`${base}/spend/outcomes`)));
      EF.replace(proposerBox, EF.proposerPanel(await EF.api(`${base}/proposer`), run.id));
      EF.replace(stageBox, stageTable(await EF.api(`${base}/stages`)));
      await programs.load();
    };
    EF.replace(headBox, header(run));
    await refreshData();
    await tree.refresh(true);
    if (run.status !== "running") return;
    let signature = JSON.stringify([run.counts, run.status, run.cost]);
    let treeAt = Date.now();
    scope.every(3000, async () => {
      if (run.status !== "running") return;
      run = (await EF.api(base)).run;
      const now = JSON.stringify([run.counts, run.status, run.cost]);
      EF.replace(headBox, header(run));
      if (now === signature) return;
      signature = now;
      await refreshData();
      if (Date.now() - treeAt > 8000 || run.status !== "running") {
        treeAt = Date.now();
        await tree.refresh(false);
      }
    });
  };
})();
