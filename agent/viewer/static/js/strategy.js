/* The search's own view, from the strategy's latest snapshot (runs.strategy_state).
 *
 * Known kinds get their picture (map_elites: the grid heatmap). Every other snapshot, "mcts"
 * and "pq" included, is shown as readable tables: lists of records become sortable tables
 * (numbers with bars, program ids as links), objects become key/value tables. A new strategy
 * therefore shows up without changes here. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;
  const MAX_ROWS = 200;
  const TITLES = { mcts: "MCTS tree statistics (visit counts and values per node)", pq: "Priority queue contents" };
  const ID_KEYS = /(^|_)(program_id|program|id|parent_id|parent|node|root|best)$/;

  function isRecordList(v) {
    return Array.isArray(v) && v.length > 0 && v.every((x) => x && typeof x === "object" && !Array.isArray(x));
  }

  function cell(runId, key, value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "string" && ID_KEYS.test(key) && /^[0-9a-f]{12,64}$/.test(value)) return EF.programLink(runId, value);
    if (typeof value === "number") return EF.fmt.num(value);
    if (Array.isArray(value) && value.length > 3) return h("span", { class: "muted", title: JSON.stringify(value) }, `${value.length} items`);
    if (typeof value === "object") return h("code", { class: "json" }, JSON.stringify(value));
    return String(value);
  }

  /* A sortable table of records; numeric columns get bars scaled to the column's largest. */
  function recordTable(runId, rows, sortFirst) {
    // Ids first (the store keeps JSON keys sorted, so the snapshot's own order is lost).
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const columns = [...keys.filter((k) => ID_KEYS.test(k)), ...keys.filter((k) => !ID_KEYS.test(k))];
    const numeric = columns.filter((c) => rows.every((r) => r[c] === undefined || r[c] === null || typeof r[c] === "number"));
    let sortKey = sortFirst && columns.includes(sortFirst) ? sortFirst : null;
    let desc = true;
    const table = h("table", { class: "grid-table" });
    const body = h("tbody");
    const render = () => {
      const sorted = sortKey === null ? rows.slice() : rows.slice().sort((a, b) => {
        const x = a[sortKey];
        const y = b[sortKey];
        const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x ?? "").localeCompare(String(y ?? ""));
        return desc ? -cmp : cmp;
      });
      const max = Object.fromEntries(numeric.map((c) => [c, Math.max(...rows.map((r) => Math.abs(r[c] || 0)), 1e-12)]));
      EF.replace(
        body,
        sorted.slice(0, MAX_ROWS).map((r) =>
          h("tr", null, columns.map((c) => h("td", { class: numeric.includes(c) ? "num" : null }, cell(runId, c, r[c]), numeric.includes(c) && typeof r[c] === "number" ? EF.bar(Math.abs(r[c]) / max[c]) : null)))
        )
      );
    };
    const head = h(
      "thead",
      null,
      h("tr", null, columns.map((c) => h("th", { class: ["sortable", numeric.includes(c) && "num"], onclick: () => ((desc = sortKey === c ? !desc : true), (sortKey = c), render()) }, c)))
    );
    render();
    table.append(head, body);
    const note = rows.length > MAX_ROWS ? h("p", { class: "muted" }, `${MAX_ROWS} of ${rows.length} rows shown (sorted by ${sortKey || "their order"}).`) : null;
    return h("div", { class: "table-scroll" }, table, note);
  }

  /* Any JSON value as nested tables. */
  EF.jsonTables = function (runId, value, sortFirst) {
    if (isRecordList(value)) return recordTable(runId, value, sortFirst);
    if (Array.isArray(value)) return h("code", { class: "json" }, JSON.stringify(value));
    if (value && typeof value === "object") {
      const scalars = [];
      const blocks = [];
      for (const [k, v] of Object.entries(value)) {
        if (v && typeof v === "object" && (isRecordList(v) || (!Array.isArray(v) && Object.keys(v).length > 0))) {
          blocks.push(h("div", { class: "json-block" }, h("h4", null, k, isRecordList(v) ? ` (${v.length})` : ""), EF.jsonTables(runId, v, sortFirst)));
        } else scalars.push([k, cell(runId, k, v)]);
      }
      return h("div", null, scalars.length ? EF.kvTable(scalars) : null, blocks);
    }
    return cell(runId, "", value);
  };

  EF.strategyView = function (el, runId, answer) {
    const state = answer.state;
    if (!state) {
      EF.replace(el, h("p", { class: "muted" }, `The ${answer.strategy} strategy has not stored a snapshot yet.`));
      return;
    }
    if (state.kind === "map_elites") {
      EF.heatmap(el, state, runId);
      return;
    }
    const title = TITLES[state.kind] || `Snapshot of the ${state.kind || answer.strategy} strategy`;
    const sortFirst = state.kind === "mcts" ? "visits" : null; // a pq lists its members in queue order
    EF.replace(el, h("p", { class: "muted" }, title), EF.jsonTables(runId, state, sortFirst));
  };
})();
