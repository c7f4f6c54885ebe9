/* The router: #/ (runs), #/run/RUN, #/run/RUN/program/PROGRAM[/TAB], #/suites, #/suite/NAME. */
(function () {
  "use strict";
  const EF = window.EF;
  const h = EF.h;
  const app = document.getElementById("app");
  let scope = null;

  EF.setCrumbs = function (crumbs) {
    const box = document.getElementById("crumbs");
    EF.replace(box, crumbs.map(([label, href]) => [h("span", { class: "sep" }, " / "), h("a", { href }, label)]));
  };

  EF.route = async function () {
    if (scope) scope.close();
    scope = new EF.Scope();
    const mine = scope;
    let hash = location.hash.replace(/^#\/?/, "");
    if (!hash && EF.REPORT) hash = "run/" + EF.REPORT.run_id;
    const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
    // Each visit renders into its own box, so a view still loading after the user moved on
    // writes into a box no longer on the page.
    const box = h("div", { class: "view" }, h("p", { class: "muted" }, "Loading…"));
    EF.replace(app, box);
    window.scrollTo(0, 0);
    try {
      if (parts[0] === "run" && parts.length >= 4 && parts[2] === "program") await EF.views.program(box, mine, parts[1], parts[3], parts[4]);
      else if (parts[0] === "run" && parts.length >= 2) await EF.views.run(box, mine, parts[1]);
      else if (parts[0] === "suites") await EF.views.suites(box, mine);
      else if (parts[0] === "suite" && parts.length >= 2) await EF.views.suite(box, mine, parts[1]);
      else await EF.views.runs(box, mine);
    } catch (e) {
      if (!mine.alive) return;
      console.warn(e);
      EF.replace(box, h("div", { class: "error-box" }, e.message || String(e)), h("p", null, h("a", { href: "#/" }, "back to the runs")));
    }
  };

  document.getElementById("nav").hidden = !!EF.REPORT; // a report holds one run, no suites
  document.getElementById("mode").textContent = EF.REPORT ? `report · ${EF.fmt.time(EF.REPORT.generated_at)}` : "live";
  window.addEventListener("hashchange", EF.route);
  EF.route();
})();
