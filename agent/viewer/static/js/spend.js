/* What the run's LLM dollars bought (the API's /spend/outcomes answer, agent/viewer/spend.py):
 * per model, the proposer's dollars and calls that ended in an evaluated program, a duplicate,
 * an unapplied edit, a summary or nothing, with the share that bought an evaluation and a bar of
 * the dollars by outcome; the evaluator's own calls (target model, judge) listed apart.
 * A run without LLM calls gets no panel. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;

  const OUTCOME = {
    evaluated: { label: "evaluated", color: "#2f9e5f", hint: "the call's program was evaluated" },
    pending: { label: "pending", color: "#4a90d9", hint: "the call's program waits for its evaluation" },
    duplicate: { label: "duplicate", color: "#8a8f98", hint: "the call's program copied one the run had" },
    unapplied: { label: "unapplied", color: "#8e63ce", hint: "the call's edit did not apply" },
    summary: { label: "summary", color: "#e8912d", hint: "bookkeeping: a memory summary, a meta-prompt rewrite, a distillation" },
    nothing: { label: "nothing", color: "#d64545", hint: "the call failed, or no program came of it" },
  };

  /* One bar, as wide as the cell, split by the dollars (or, when nothing was paid, the calls) of each outcome. */
  function stackedBar(row, outcomes) {
    const byDollars = row.total.dollars > 0;
    const total = byDollars ? row.total.dollars : row.total.calls;
    const parts = outcomes.map((o) => {
      const value = byDollars ? row.outcomes[o].dollars : row.outcomes[o].calls;
      if (!total || !value) return null;
      return h("span", { class: "bar-fill", dataset: { outcome: o }, title: `${OUTCOME[o].label}: ${EF.fmt.pct(value / total)}`, style: { display: "inline-block", width: ((100 * value) / total).toFixed(2) + "%", backgroundColor: OUTCOME[o].color } });
    });
    return h("span", { class: "bar outcome-bar", style: { width: "140px", whiteSpace: "nowrap", fontSize: "0" } }, parts);
  }

  function cell(spend) {
    return h("td", { class: ["num", spend.calls ? null : "muted"] }, EF.fmt.dollars(spend.dollars), h("div", { class: "small muted" }, `${EF.fmt.int(spend.calls)} call${spend.calls === 1 ? "" : "s"}`));
  }

  function modelRow(row, outcomes, cls) {
    return h(
      "tr",
      { class: cls, dataset: { model: row.model } },
      h("td", { class: "mono" }, row.model),
      outcomes.map((o) => {
        const td = cell(row.outcomes[o]);
        td.dataset.outcome = o;
        return td;
      }),
      h("td", { class: "num total-cell" }, EF.fmt.dollars(row.total.dollars), h("div", { class: "small muted" }, `${EF.fmt.int(row.total.calls)} calls`)),
      h("td", { class: "num share" }, row.dollar_share === null ? "–" : EF.fmt.pct(row.dollar_share), h("div", { class: "small muted" }, row.call_share === null ? "" : `${EF.fmt.pct(row.call_share)} of calls`)),
      h("td", null, stackedBar(row, outcomes))
    );
  }

  function evaluatorBlock(evaluator) {
    if (!evaluator.length) return null;
    const rows = evaluator.map((e) => h("tr", { dataset: { model: e.model } }, h("td", { class: "mono" }, e.model), h("td", { class: "num" }, EF.fmt.int(e.calls)), h("td", { class: "num" }, EF.fmt.dollars(e.dollars))));
    return [
      h("h4", null, "The evaluator's calls"),
      h("p", { class: "muted small" }, "A prompt task's target model and an LLM judge: these calls are the evaluations themselves, so they are not counted above."),
      h("table", { class: "grid-table spend-evaluator" }, h("thead", null, h("tr", null, h("th", null, "model"), h("th", { class: "num" }, "calls"), h("th", { class: "num" }, "dollars"))), h("tbody", null, rows)),
    ];
  }

  /* The run's panel, or null when the run made no LLM call. */
  EF.spendOutcomesPanel = function (answer) {
    if (!answer || (!answer.models.length && !answer.evaluator.length)) return null;
    const outcomes = answer.outcomes;
    let table = null;
    if (answer.models.length) {
      const head = h("tr", null, h("th", null, "model"), outcomes.map((o) => h("th", { class: "num", title: OUTCOME[o].hint }, OUTCOME[o].label)), h("th", { class: "num" }, "total"), h("th", { class: "num", title: "the share of the dollars that bought an evaluated program" }, "bought an evaluation"), h("th", null, "dollars by outcome"));
      const rows = answer.models.map((m) => modelRow(m, outcomes));
      if (answer.models.length > 1) rows.push(modelRow(answer.all, outcomes, "total"));
      const legend = h("div", { class: "legend-row" }, outcomes.map((o) => h("span", { title: OUTCOME[o].hint }, h("span", { class: "bar", style: { width: "10px", marginLeft: "0", marginRight: "4px", backgroundColor: OUTCOME[o].color } }), OUTCOME[o].label)));
      table = [h("div", { class: "table-scroll" }, h("table", { class: "grid-table spend-outcomes" }, h("thead", null, head), h("tbody", null, rows))), legend];
    }
    return EF.section("What the LLM spend bought", "spend-outcomes", h("p", { class: "muted small" }, "The proposer's calls by what came of them. A plan call counts with the program that implemented its plan."), table, evaluatorBlock(answer.evaluator));
  };
})();
