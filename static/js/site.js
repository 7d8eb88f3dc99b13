// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Links the mlflow client prints ("View run at http://site/#/experiments/1/runs/3") land on the home
  // page with MLflow's UI route in the fragment: send them to the site's own page for that run or model.
  const mlflowRoute = window.location.pathname === "/" && window.location.hash.match(
    /^#\/(?:experiments\/(\d+)(?:\/runs\/(\d+))?|models\/([^/]+)(?:\/versions\/(\d+))?)/
  );
  if (mlflowRoute) {
    const [, experiment, run, model, version] = mlflowRoute;
    const target = run ? `/runs/${run}/`
      : experiment ? `/runs/?experiment=${experiment}`
      : version ? `/models/${model}/versions/${version}/`
      : `/models/${model}/`;
    window.location.replace(target);
    return;
  }

  // Charts: each figure is JSON in the page beside an empty div (the {% plotly_figure %} tag); plotly.js draws it
  // when the div comes within 300 px of the viewport, so a page of sixteen charts draws the two on screen first.
  const templates = {};
  const draw = (div) => {
    if (div.dataset.drawn || !window.Plotly) return;
    div.dataset.drawn = "1";
    const figure = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    const name = figure.layout && figure.layout.template;
    if (typeof name === "string") {
      const source = document.getElementById(`plotly-template-${name}`);
      if (source) figure.layout.template = templates[name] = templates[name] || JSON.parse(source.textContent);
    }
    window.Plotly.newPlot(div, figure.data || [], figure.layout || {}, figure.config || {});
  };
  const charts = document.querySelectorAll(".plotly-chart[data-figure]");
  if (charts.length && "IntersectionObserver" in window) {
    const observer = new IntersectionObserver((entries) => {
      entries.forEach((entry) => {
        if (entry.isIntersecting) { observer.unobserve(entry.target); draw(entry.target); }
      });
    }, { rootMargin: "300px 0px" });
    charts.forEach((div) => observer.observe(div));
  } else {
    charts.forEach(draw);
  }

  // Job list: refresh the table every 3 s while any listed job is queued or running.
  const table = document.getElementById("job-table");
  if (table) {
    const refresh = async () => {
      const inner = table.querySelector("[data-active]");
      if (!inner || inner.dataset.active !== "true") return;
      try {
        const response = await fetch(table.dataset.refresh, { headers: { "X-Requested-With": "fetch" } });
        if (response.ok) table.innerHTML = await response.text();
      } catch (e) { /* offline for a moment: try again next tick */ }
      setTimeout(refresh, 3000);
    };
    setTimeout(refresh, 3000);
  }

  // Pages waiting for a job (e.g. a profile being computed): reload once it has finished.
  document.querySelectorAll("[data-wait-job]").forEach((el) => {
    const poll = async () => {
      try {
        const response = await fetch(el.dataset.waitJob, { headers: { Accept: "application/json" } });
        if (response.ok && ["succeeded", "failed", "cancelled"].includes((await response.json()).status)) {
          window.location.reload();
          return;
        }
      } catch (e) { /* try again */ }
      setTimeout(poll, 2000);
    };
    setTimeout(poll, 2000);
  });

  // Job detail: poll the API every 2 s until the job finishes, then reload once for the final view.
  window.followJob = function (card) {
    if (!card || card.dataset.finished === "true") return;
    const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };
    const fmt = (iso) => iso ? iso.replace("T", " ").slice(0, 19) + " UTC" : "—";
    const tick = async () => {
      let job;
      try {
        const response = await fetch(card.dataset.api, { headers: { Accept: "application/json" } });
        if (!response.ok) { setTimeout(tick, 5000); return; }
        job = await response.json();
      } catch (e) { setTimeout(tick, 5000); return; }
      set("job-progress", job.progress + "%");
      set("job-message", job.message);
      set("job-started", fmt(job.started_at));
      set("job-attempts", job.attempts + " of " + job.max_attempts);
      if (job.duration_seconds !== null) set("job-duration", job.duration_seconds.toFixed(1) + " s");
      const bar = document.getElementById("job-progress-bar");
      if (bar) bar.style.width = job.progress + "%";
      const status = document.getElementById("job-status");
      if (status) status.innerHTML = '<span class="badge badge-' + job.status + '">' + job.status + "</span>";
      if (job.log) set("job-log", job.log);
      if (["succeeded", "failed", "cancelled"].includes(job.status)) { window.location.reload(); return; }
      setTimeout(tick, 2000);
    };
    setTimeout(tick, 1000);
  };
})();

// Charts are drawn while the page is still being parsed, when a grid cell may be wider than it ends
// up; once everything is laid out, fit each chart to its final box.
window.addEventListener("load", function () {
  if (!window.Plotly) return;
  document.querySelectorAll(".js-plotly-plot").forEach(function (chart) { window.Plotly.Plots.resize(chart); });
});
