/* Data access: the JSON API of `agent view`, or, in a static report, the answers recorded in
 * the page (paged lists are paged here from the recorded list of every program). */
(function () {
  "use strict";
  const EF = window.EF;

  class ApiError extends Error {}
  EF.ApiError = ApiError;

  const dataBlock = document.getElementById("ef-data");
  EF.REPORT = dataBlock ? JSON.parse(dataBlock.textContent) : null;

  EF.api = async function (path) {
    if (EF.REPORT) return fromReport(path);
    const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) throw new ApiError((body && body.error) || `${response.status} ${response.statusText}`);
    return body;
  };

  EF.query = function (params) {
    const parts = Object.entries(params)
      .filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    return parts.length ? "?" + parts.join("&") : "";
  };

  // -- the static report -----------------------------------------------------------------------

  function page(items, params) {
    const offset = Number(params.get("offset") || 0);
    const limit = Number(params.get("limit") || 50);
    return { total: items.length, offset, limit, items: items.slice(offset, offset + limit) };
  }

  const ORDERS = {
    seq: (a, b) => a.seq - b.seq,
    fitness: (a, b) => (a.fitness === null) - (b.fitness === null) || (b.fitness || 0) - (a.fitness || 0) || a.seq - b.seq,
    evaluated: (a, b) => (a.evaluated_at === null) - (b.evaluated_at === null) || (a.evaluated_at || 0) - (b.evaluated_at || 0) || a.seq - b.seq,
  };

  function fromReport(path) {
    const recorded = EF.REPORT.responses;
    if (Object.prototype.hasOwnProperty.call(recorded, path)) return Promise.resolve(recorded[path]);
    const url = new URL(path, "http://report.invalid");
    const params = url.searchParams;
    const parts = url.pathname.split("/").map(decodeURIComponent); // "", "api", "runs", run, ...
    const briefs = EF.REPORT.briefs;
    let answer = null;
    if (parts.length === 5 && parts[4] === "programs") {
      const statuses = (params.get("status") || "").split(",").filter(Boolean);
      let items = statuses.length ? briefs.filter((b) => statuses.includes(b.status)) : briefs.slice();
      items.sort(ORDERS[params.get("order") || "seq"] || ORDERS.seq);
      answer = page(items, params);
    } else if (parts.length === 6 && parts[4] === "tree") {
      const generation = Number(parts[5]);
      answer = { generation, ...page(briefs.filter((b) => b.generation === generation), params) };
    } else if (parts.length === 7 && parts[6] === "children") {
      answer = { parent: parts[5], ...page(briefs.filter((b) => b.parent_id === parts[5]), params) };
    }
    if (answer) return Promise.resolve(answer);
    const what = parts[4] === "programs" ? "this program's details are" : "this view is";
    return Promise.reject(new ApiError(`${what} not included in this report (open the run with \`agent view\`)`));
  }

  // -- a view's lifetime --------------------------------------------------------------------------

  /* What a view started (timers); closed when the user navigates away. */
  EF.Scope = class {
    constructor() {
      this.alive = true;
      this.timers = [];
    }
    /* Call fn every `ms` while the view is shown (not in a report, not while hidden). */
    every(ms, fn) {
      if (EF.REPORT) return;
      let busy = false;
      const timer = setInterval(async () => {
        if (busy || document.hidden || !this.alive) return;
        busy = true;
        try {
          await fn();
        } catch (e) {
          console.warn("refresh failed:", e.message);
        } finally {
          busy = false;
        }
      }, ms);
      this.timers.push(timer);
    }
    close() {
      this.alive = false;
      this.timers.forEach(clearInterval);
    }
  };
})();
