/* m002 report: draws the charts from the JSON embedded in the page.
 *
 * No network and no calculation: the data (m002-data) holds every number, already computed by
 * `m002 walkforward` / `m002 backtest` / `m002 tune` and only reshaped for the page
 * (m002/report/_payload.py): dates as day gaps (the first from DATA.date0), state probabilities
 * in thousandths, action and event flags as one character per day, the tuning history's best so
 * far and its parallel-coordinates axes.
 */
(function () {
  "use strict";

  const DATA = JSON.parse(document.getElementById("m002-data").textContent);
  const DAY_MS = 86400000;
  const BASE_MS = Date.parse(DATA.date0 + "T00:00:00Z");
  const CONFIG = { responsive: true, displaylogo: false };
  const MARGIN = { l: 64, r: 24, t: 40, b: 40 };
  const STATE_COLORS = {
    Peak: "#d62728",
    Accumulation: "#2ca02c",
    EarlyUp: "#1f77b4",
    LateDown: "#ff7f0e",
    Distribution: "#9467bd",
    none: "#7f7f7f",
  };
  const OTHER_COLORS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const LONG_COLOR = "#1a9641";
  const SHORT_COLOR = "#d7191c";

  function stateColor(name, k) {
    return STATE_COLORS[name] || OTHER_COLORS[k % OTHER_COLORS.length];
  }

  function toDates(gaps) {
    let day = 0;
    return gaps.map((gap) => {
      day += gap;
      return new Date(BASE_MS + day * DAY_MS).toISOString().slice(0, 10);
    });
  }

  function fromThousandths(values) {
    return values.map((v) => (v === null ? null : v / 1000));
  }

  // Dotted vertical line and label at the first test day of each fold.
  function foldMarks() {
    const shapes = DATA.fold_starts.map((f) => ({
      type: "line", xref: "x", yref: "paper", x0: f.date, x1: f.date, y0: 0, y1: 1,
      line: { color: "#888", width: 1, dash: "dot" },
    }));
    const annotations = DATA.fold_starts.map((f) => ({
      xref: "x", yref: "paper", x: f.date, y: 1, yanchor: "bottom", xanchor: "left",
      text: "fold " + f.fold, showarrow: false, font: { size: 10, color: "#666" },
    }));
    return { shapes: shapes, annotations: annotations };
  }

  function drawBacktest() {
    const strategies = DATA.backtest.strategies;
    const marks = foldMarks();
    const line = (s, key, fmt) => ({
      type: "scatter", mode: "lines", name: s.name, legendgroup: s.name,
      x: toDates(s.d), y: s[key], hovertemplate: "%{y:" + fmt + "}",
    });
    const common = {
      hovermode: "x unified", margin: MARGIN, shapes: marks.shapes,
      annotations: marks.annotations, legend: { orientation: "h", y: -0.15 },
    };
    return Promise.all([
      Plotly.newPlot("equity-chart", strategies.map((s) => line(s, "equity", ".4f")), {
        ...common, title: { text: "Equity (net of costs)" }, height: 420,
        yaxis: { title: { text: "equity" }, type: "linear" },
        // a strategy that compounds to 0.02 and one at 5x share the axis only on a log scale
        updatemenus: [{
          type: "buttons", direction: "right", x: 0, xanchor: "left", y: 1.12, yanchor: "bottom",
          buttons: [
            { label: "linear", method: "relayout", args: [{ "yaxis.type": "linear" }] },
            { label: "log", method: "relayout", args: [{ "yaxis.type": "log" }] },
          ],
        }],
      }, CONFIG),
      Plotly.newPlot("drawdown-chart", strategies.map((s) => line(s, "drawdown", ".2%")), {
        ...common, title: { text: "Drawdown" }, height: 320,
        yaxis: { title: { text: "drawdown" }, tickformat: ".0%" },
      }, CONFIG),
    ]);
  }

  // One ticker: candlesticks + LONG/SHORT days, stacked state probabilities, position bars and
  // one marker row per event flag, all on the single x axis so that zooming is shared.
  function tickerTraces(ticker) {
    const ex = DATA.explorer;
    const s = ex.series[ticker];
    const x = toDates(s.d);
    const traces = [{
      type: "candlestick", name: ticker, x: x, open: s.o, high: s.h, low: s.l, close: s.c,
      yaxis: "y", showlegend: false,
      increasing: { line: { color: "#26a69a" } }, decreasing: { line: { color: "#ef5350" } },
    }];
    const days = { L: { x: [], y: [] }, S: { x: [], y: [] } };
    for (let i = 0; i < s.act.length; i++) {
      const code = s.act[i];
      if (code === "L") { days.L.x.push(x[i]); days.L.y.push(s.l[i]); }
      if (code === "S") { days.S.x.push(x[i]); days.S.y.push(s.h[i]); }
    }
    traces.push(
      { type: "scatter", mode: "markers", name: "LONG", x: days.L.x, y: days.L.y, yaxis: "y",
        marker: { symbol: "triangle-up", size: 7, color: LONG_COLOR }, hoverinfo: "skip" },
      { type: "scatter", mode: "markers", name: "SHORT", x: days.S.x, y: days.S.y, yaxis: "y",
        marker: { symbol: "triangle-down", size: 7, color: SHORT_COLOR }, hoverinfo: "skip" },
    );
    ex.states.forEach((state, k) => traces.push({
      type: "scatter", mode: "lines", stackgroup: "states", name: state, x: x,
      y: fromThousandths(s.p[k]),
      yaxis: "y2", line: { width: 0.5, color: stateColor(state, k) },
      hovertemplate: "%{y:.3f}",
    }));
    traces.push({
      type: "bar", name: "position_size", x: x, y: s.pos, yaxis: "y3",
      marker: { color: s.pos.map((v) => (v !== null && v < 0 ? SHORT_COLOR : LONG_COLOR)) },
      hovertemplate: "%{y:.4f}",
    });
    ex.flags.forEach((flag, k) => {
      const on = [];
      const codes = s.flags[k];
      for (let i = 0; i < codes.length; i++) if (codes[i] === "1") on.push(x[i]);
      traces.push({
        type: "scatter", mode: "markers", name: flag, x: on, y: on.map(() => flag),
        yaxis: "y4", showlegend: false, hoverinfo: "skip",
        marker: { symbol: "line-ns-open", size: 9, color: "#34495e" },
      });
    });
    return traces;
  }

  function tickerLayout(ticker) {
    const ex = DATA.explorer;
    const marks = foldMarks();
    return {
      title: { text: ticker, x: 0, xanchor: "left" }, height: 860,
      margin: { ...MARGIN, l: 170, t: 64 }, hovermode: "x unified", bargap: 0,
      shapes: marks.shapes, annotations: marks.annotations,
      legend: { orientation: "h", traceorder: "normal", x: 1, xanchor: "right", y: 1.03,
                yanchor: "bottom" },
      xaxis: { type: "date", anchor: "y4", rangeslider: { visible: false },
               showspikes: true, spikemode: "across", spikethickness: 1 },
      yaxis: { domain: [0.5, 1], title: { text: "price" } },
      yaxis2: { domain: [0.29, 0.47], range: [0, 1], title: { text: "regime p" } },
      yaxis3: { domain: [0.16, 0.26], title: { text: "position" }, zeroline: true },
      yaxis4: { domain: [0, 0.13], type: "category", categoryorder: "array",
                categoryarray: ex.flags, range: [ex.flags.length - 0.5, -0.5],
                tickfont: { size: 10 }, automargin: true },
    };
  }

  function drawExplorer() {
    const select = document.getElementById("ticker-select");
    const draw = (react) => (react ? Plotly.react : Plotly.newPlot)(
      "ticker-chart", tickerTraces(select.value), tickerLayout(select.value), CONFIG);
    select.addEventListener("change", () => draw(true));
    return draw(false);
  }

  function drawConfusion() {
    const cm = DATA.confusion;
    const text = cm.counts.map((row) => row.map((n) => (n === null ? "" : n.toLocaleString())));
    return Plotly.newPlot("confusion-chart", [{
      type: "heatmap", x: cm.labels, y: cm.labels, z: cm.shares, text: text,
      zmin: 0, zmax: 1, colorscale: "Blues", reversescale: true, colorbar: { title: { text: "row share" },
      tickformat: ".0%" },
      texttemplate: "%{text}<br>%{z:.0%}",
      hovertemplate: "true %{y}<br>predicted %{x}<br>count %{text}<br>share of row %{z:.1%}" +
        "<extra></extra>",
    }], {
      height: 460, width: 620, margin: { ...MARGIN, l: 110, b: 90 },
      xaxis: { title: { text: "predicted" }, type: "category" },
      yaxis: { title: { text: "true" }, type: "category", autorange: "reversed" },
    }, CONFIG);
  }

  function drawCalibration() {
    const cal = DATA.calibration;
    return Plotly.newPlot("calibration-chart", [
      { type: "scatter", mode: "lines", name: "perfect calibration", x: [0, 1], y: [0, 1],
        line: { dash: "dash", color: "#999" }, hoverinfo: "skip" },
      { type: "scatter", mode: "lines+markers", name: "head", x: cal.p_mean, y: cal.observed,
        customdata: cal.n, marker: { size: 8 },
        hovertemplate: "predicted %{x:.3f}<br>observed %{y:.3f}<br>n = %{customdata:,}" +
          "<extra></extra>" },
    ], {
      height: 460, width: 560, margin: MARGIN, legend: { x: 0.02, y: 0.98 },
      xaxis: { title: { text: "mean predicted rebound probability" }, range: [0, 1] },
      yaxis: { title: { text: "observed rebound frequency" }, range: [0, 1],
               scaleanchor: "x" },
    }, CONFIG);
  }

  // One small diagram per outcome: the diagonal, and the bins as markers sized by their rows.
  function drawReliability() {
    const rel = DATA.reliability;
    const columns = 3;
    const rows = Math.ceil(rel.outcomes.length / columns);
    const traces = [];
    const layout = {
      height: 320 * rows, margin: { ...MARGIN, t: 24 }, showlegend: false, annotations: [],
      grid: { rows: rows, columns: columns, pattern: "independent", ygap: 0.3, xgap: 0.15 },
    };
    const largest = Math.max(1, ...rel.outcomes.flatMap((name) => rel.series[name].n));
    rel.outcomes.forEach((name, k) => {
      const s = rel.series[name];
      const axis = k === 0 ? "" : String(k + 1);
      const color = stateColor(name, k);
      traces.push(
        { type: "scatter", mode: "lines", x: [0, 1], y: [0, 1], xaxis: "x" + axis,
          yaxis: "y" + axis, line: { dash: "dash", color: "#999", width: 1 }, hoverinfo: "skip" },
        { type: "scatter", mode: "lines+markers", name: name, x: s.p_mean, y: s.observed,
          customdata: s.n, xaxis: "x" + axis, yaxis: "y" + axis, line: { color: color },
          marker: { color: color, size: s.n.map((n) => 4 + 14 * Math.sqrt(n / largest)) },
          hovertemplate: name + "<br>predicted %{x:.3f}<br>observed %{y:.3f}" +
            "<br>rows %{customdata:,}<extra></extra>" },
      );
      layout["xaxis" + axis] = { range: [0, 1], title: { text: "predicted" } };
      layout["yaxis" + axis] = { range: [0, 1], title: { text: "observed" } };
      layout.annotations.push({
        xref: "x" + axis + " domain", yref: "y" + axis + " domain", x: 0.02, y: 1,
        xanchor: "left", yanchor: "bottom", showarrow: false, text: "<b>" + name + "</b>",
      });
    });
    return Plotly.newPlot("reliability-chart", traces, layout, CONFIG);
  }

  function featureTraces(feature) {
    const fb = DATA.features;
    const stats = fb.stats[feature] || {};
    const traces = [];
    fb.states.forEach((state, k) => {
      const st = stats[state];
      if (!st || !st.n) return;
      traces.push({
        type: "box", name: state, x: [state], q1: [st.q25], median: [st.q50], q3: [st.q75],
        lowerfence: [st.q05], upperfence: [st.q95], mean: [st.mean], boxmean: true,
        marker: { color: stateColor(state, k) }, hoverinfo: "y+name",
      });
    });
    return traces;
  }

  function featureLayout(feature) {
    const fb = DATA.features;
    const stats = fb.stats[feature] || {};
    const ticks = fb.states.map((state) => {
      const st = stats[state];
      return state + "<br>" + (st && st.n ? "n = " + st.n.toLocaleString() : "no rows");
    });
    return {
      title: { text: feature }, height: 440, margin: { ...MARGIN, b: 64 }, showlegend: false,
      xaxis: { type: "category", categoryorder: "array", categoryarray: fb.states,
               tickvals: fb.states, ticktext: ticks, range: [-0.5, fb.states.length - 0.5] },
    };
  }

  function drawFeatures() {
    const select = document.getElementById("feature-select");
    const draw = (react) => (react ? Plotly.react : Plotly.newPlot)(
      "feature-chart", featureTraces(select.value), featureLayout(select.value), CONFIG);
    select.addEventListener("change", () => draw(true));
    return draw(false);
  }

  // The final study of `m002 tune` (in sample): each trial's objective and the best so far.
  function drawTuningHistory() {
    const t = DATA.tuning;
    const h = t.history;
    return Plotly.newPlot("tuning-history-chart", [
      { type: "scatter", mode: "markers", name: "trial", x: h.trial, y: h.value,
        customdata: h.turnover, marker: { size: 7, color: "#1f77b4", opacity: 0.7 },
        hovertemplate: "trial %{x}<br>" + t.objective + " %{y:.3f}<br>turnover/y " +
          "%{customdata:.2f}<extra></extra>" },
      { type: "scatter", mode: "lines", name: "best so far", x: h.trial, y: h.best,
        line: { shape: "hv", color: "#d62728", width: 2 },
        hovertemplate: "best so far %{y:.3f}<extra></extra>" },
    ], {
      title: { text: "Optimisation history" }, height: 380, margin: MARGIN,
      legend: { orientation: "h", y: -0.2 },
      xaxis: { title: { text: "trial" } },
      yaxis: { title: { text: t.objective + " (in sample)" } },
    }, CONFIG);
  }

  function drawTuningImportance() {
    const imp = DATA.tuning.importances;
    return Plotly.newPlot("tuning-importance-chart", [{
      type: "bar", orientation: "h", x: imp.values, y: imp.names, marker: { color: "#1f77b4" },
      hovertemplate: "%{y}<br>importance %{x:.3f}<extra></extra>",
    }], {
      title: { text: "Parameter importances" }, height: 120 + 22 * imp.names.length,
      margin: { ...MARGIN, l: 200 },
      xaxis: { title: { text: "importance" } },
      yaxis: { type: "category", autorange: "reversed", automargin: true },
    }, CONFIG);
  }

  // One line per trial across the parameters every trial sets; the last axis (the objective)
  // colours the lines.
  function drawTuningParallel() {
    const dims = DATA.tuning.parallel.dimensions;
    const objective = dims[dims.length - 1];
    return Plotly.newPlot("tuning-parallel-chart", [{
      type: "parcoords", dimensions: dims, labelangle: -20, labelside: "top",
      line: { color: objective.values, colorscale: "Viridis", showscale: true,
              colorbar: { title: { text: objective.label } } },
    }], {
      title: { text: "Trials across the parameters" }, height: 500,
      margin: { l: 64, r: 80, t: 120, b: 32 },
    }, CONFIG);
  }

  function drawTuningPareto() {
    const t = DATA.tuning;
    const h = t.history;
    const front = t.pareto;
    return Plotly.newPlot("tuning-pareto-chart", [
      { type: "scatter", mode: "markers", name: "all trials", x: h.turnover, y: h.value,
        customdata: h.trial, marker: { size: 6, color: "#999", opacity: 0.35 },
        hovertemplate: "trial %{customdata}<br>turnover/y %{x:.2f}<br>" + t.objective +
          " %{y:.3f}<extra></extra>" },
      { type: "scatter", mode: "lines+markers", name: "Pareto front", x: front.turnover,
        y: front.value, customdata: front.trial, line: { color: "#d62728", shape: "hv" },
        marker: { size: 9, color: "#d62728" },
        hovertemplate: "trial %{customdata}<br>turnover/y %{x:.2f}<br>" + t.objective +
          " %{y:.3f}<extra></extra>" },
    ], {
      title: { text: "Pareto front: " + t.objective + " against turnover" }, height: 420,
      margin: MARGIN, legend: { orientation: "h", y: -0.2 },
      xaxis: { title: { text: "turnover/y (in sample)" } },
      yaxis: { title: { text: t.objective + " (in sample)" } },
    }, CONFIG);
  }

  // A chart that fails says so in its place (and on the console) and leaves the others drawn.
  function attempt(id, draw) {
    const fail = (error) => {
      console.error("m002 report: drawing #" + id + " failed:", error);
      const note = document.createElement("p");
      note.className = "na";
      note.textContent = "This chart could not be drawn: " + error;
      document.getElementById(id).replaceChildren(note);
    };
    try {
      return Promise.resolve(draw()).catch(fail);
    } catch (error) {
      fail(error);
      return Promise.resolve();
    }
  }

  // Each section's chart is drawn only where the page has its div (Python leaves a
  // "not available" note instead where the run directory lacks the data).
  const sections = [
    ["equity-chart", drawBacktest],
    ["ticker-chart", drawExplorer],
    ["confusion-chart", drawConfusion],
    ["reliability-chart", drawReliability],
    ["calibration-chart", drawCalibration],
    ["feature-chart", drawFeatures],
    ["tuning-history-chart", drawTuningHistory],
    ["tuning-importance-chart", drawTuningImportance],
    ["tuning-parallel-chart", drawTuningParallel],
    ["tuning-pareto-chart", drawTuningPareto],
  ];
  const drawings = sections
    .filter(([id]) => document.getElementById(id) !== null)
    .map(([id, draw]) => attempt(id, draw));
  Promise.all(drawings).then(() => { document.body.dataset.ready = "1"; });
})();
