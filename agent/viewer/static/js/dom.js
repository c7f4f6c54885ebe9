/* DOM building and formatting for the viewer.
 *
 * Everything that comes from a store (program sources, LLM answers, errors, names) is put on
 * the page as text: h() turns string children into text nodes and sets attributes one by one;
 * nothing here assigns innerHTML. Links may only point inside the viewer ("#..." or "/..."). */
(function () {
  "use strict";
  const EF = (window.EF = window.EF || {});
  EF.views = {};
  const SVG_NS = "http://www.w3.org/2000/svg";

  function append(node, kids) {
    for (const kid of kids) {
      if (kid === null || kid === undefined || kid === false) continue;
      if (Array.isArray(kid)) append(node, kid);
      else if (kid instanceof Node) node.appendChild(kid);
      else node.appendChild(document.createTextNode(String(kid)));
    }
    return node;
  }

  function setProps(node, props) {
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
      else if (key === "style") Object.assign(node.style, value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "href") {
        const href = String(value);
        if (!(href.startsWith("#") || href.startsWith("/"))) throw new Error("external link refused: " + href);
        node.setAttribute("href", href);
      } else node.setAttribute(key, value === true ? "" : String(value));
    }
  }

  /** h("div", {class: "x"}, "text", child, [more]) -> an element; strings become text. */
  EF.h = function (tag, props, ...kids) {
    const node = document.createElement(tag);
    setProps(node, props);
    return append(node, kids);
  };

  /** The same for SVG elements. */
  EF.s = function (tag, props, ...kids) {
    const node = document.createElementNS(SVG_NS, tag);
    setProps(node, props);
    return append(node, kids);
  };

  EF.clear = function (node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  };

  EF.replace = function (node, ...kids) {
    return append(EF.clear(node), kids);
  };

  // -- formatting ---------------------------------------------------------------------------

  function isNum(x) {
    return typeof x === "number" && Number.isFinite(x);
  }

  EF.fmt = {
    num(x, digits = 4) {
      if (x === null || x === undefined) return "–";
      if (typeof x === "string") return x; // "NaN", "Infinity" as the store spells them
      if (!isNum(x)) return String(x);
      if (Number.isInteger(x) && Math.abs(x) < 1e9) return x.toLocaleString("en-US");
      const a = Math.abs(x);
      if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
      return Number(x.toPrecision(digits)).toString();
    },
    int(x) {
      return isNum(x) ? Math.round(x).toLocaleString("en-US") : "–";
    },
    dollars(x) {
      if (!isNum(x)) return "–";
      return Math.abs(x) < 1 && x !== 0 ? "$" + x.toFixed(4) : "$" + x.toFixed(2);
    },
    pct(x) {
      return isNum(x) ? (100 * x).toFixed(x < 0.1 ? 1 : 0) + " %" : "–";
    },
    seconds(x) {
      if (!isNum(x)) return "–";
      if (x < 1) return (1000 * x).toFixed(0) + " ms";
      if (x < 120) return x.toFixed(1) + " s";
      if (x < 7200) return (x / 60).toFixed(1) + " min";
      return (x / 3600).toFixed(1) + " h";
    },
    time(unix) {
      if (!isNum(unix)) return "–";
      const d = new Date(unix * 1000);
      const pad = (n) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    },
    id(x) {
      return x ? String(x).slice(0, 8) : "–";
    },
  };

  // -- statuses -------------------------------------------------------------------------------

  /* Program statuses, in the order charts and legends list them. */
  EF.STATUSES = [
    { key: "correct", label: "correct", color: "#2f9e5f" },
    { key: "wrong", label: "wrong", color: "#e8912d" },
    { key: "build_failed", label: "failed to build", color: "#d64545" },
    { key: "apply_failed", label: "failed to apply", color: "#8e63ce" },
    { key: "error", label: "error", color: "#9b2c2c" },
    { key: "timeout", label: "timeout", color: "#b5651d" },
    { key: "duplicate", label: "duplicate", color: "#8a8f98" },
    { key: "pending", label: "pending", color: "#4a90d9" },
  ];
  EF.STATUS = Object.fromEntries(EF.STATUSES.map((s) => [s.key, s]));
  EF.FAILED = new Set(["apply_failed", "build_failed", "wrong", "error", "timeout"]);

  EF.badge = function (status) {
    const s = EF.STATUS[status] || { label: status, color: "#777" };
    return EF.h("span", { class: "badge", style: { backgroundColor: s.color }, title: status }, s.label);
  };

  EF.runBadge = function (status) {
    return EF.h("span", { class: ["run-badge", "run-" + status] }, status === "running" ? "● running" : status);
  };

  EF.programLink = function (runId, programId, label) {
    const href = `#/run/${encodeURIComponent(runId)}/program/${encodeURIComponent(programId)}`;
    return EF.h("a", { href, class: "mono", title: programId }, label || EF.fmt.id(programId));
  };

  /* A key/value table from [[label, value-or-node], ...]. */
  EF.kvTable = function (rows, cls) {
    return EF.h(
      "table",
      { class: ["kv", cls] },
      EF.h("tbody", null, rows.filter(Boolean).map(([k, v]) => EF.h("tr", null, EF.h("th", null, k), EF.h("td", null, v))))
    );
  };

  EF.card = function (label, value, hint) {
    return EF.h("div", { class: "card", dataset: { card: label } }, EF.h("div", { class: "card-label" }, label), EF.h("div", { class: "card-value" }, value), hint ? EF.h("div", { class: "card-hint" }, hint) : null);
  };

  EF.section = function (title, id, ...body) {
    return EF.h("section", { class: "panel", id }, EF.h("h2", null, title), ...body);
  };

  /* A horizontal bar (0..1) to put in a table cell. */
  EF.bar = function (fraction, color) {
    const f = Math.max(0, Math.min(1, isNum(fraction) ? fraction : 0));
    return EF.h("span", { class: "bar" }, EF.h("span", { class: "bar-fill", style: { width: (100 * f).toFixed(1) + "%", backgroundColor: color || "#5b8def" } }));
  };
})();
