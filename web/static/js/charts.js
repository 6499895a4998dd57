/* gridloop console charts: the statistics page's charts and the grid map, drawn with the
   vendored ECharts from JSON the page embeds (<script type="application/json">). No inline
   code in the templates; this file only reads data and wires up ECharts. */
(function () {
  "use strict";

  var INK = "#4a5566";
  var MUTED = "#7a8599";
  var LINE = "#e2e7ef";
  var FONT = getComputedStyle(document.body).fontFamily;
  // Volume bars in the console's brand blue; rates in the tile colours of the dashboard.
  var BAR = "#1565c0";
  // Each rate keeps its colour on every chart.
  var RATES = {
    closure_rate: "#0b1f3a",
    on_time_closure_rate: "#1b7f3b",
    timely_sign_rate: "#b26a00",
    satisfaction_rate: "#26a69a",
    on_time_completion_rate: "#6a3fb5",
  };
  var RAMPS = {
    open: ["#cfe1f5", "#9cc3ea", "#5b9ad8", "#1565c0", "#0d4289", "#0b1f3a"],
    overdue: ["#fbd9d5", "#f3a69d", "#e56b5f", "#c62828", "#8e1c1c", "#5c0f0f"],
  };
  var NONE = "#e6e9ef";
  var SYMBOLS = ["circle", "diamond", "triangle", "rect"];

  function json(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function percent(value) {
    return value === null || value === undefined ? "—" : value.toFixed(1) + "%";
  }

  function resizeWith(chart) {
    window.addEventListener("resize", function () { chart.resize(); });
  }

  // ---- the statistics page: bars of counts, lines of rates ---------------------------------

  function barsAndRates(spec) {
    var horizontal = Boolean(spec.horizontal);
    var category = {
      type: "category",
      data: spec.categories,
      inverse: horizontal,
      axisTick: { show: false },
      axisLine: { lineStyle: { color: LINE } },
      // Long names (English ones) are cut short on the axis; the tooltip has them in full.
      axisLabel: { color: INK, fontSize: 12, interval: 0, width: 170, overflow: "truncate" },
    };
    var countAxis = {
      type: "value",
      name: horizontal ? "" : spec.axes.count,
      minInterval: 1,
      nameTextStyle: { color: MUTED },
      axisLabel: { color: MUTED },
      splitLine: { lineStyle: { color: LINE } },
    };
    var rateAxis = {
      type: "value",
      name: horizontal ? "" : spec.axes.rate,
      min: 0,
      max: 100,
      nameTextStyle: { color: MUTED },
      axisLabel: { color: MUTED, formatter: "{value}%" },
      splitLine: { show: false },
    };
    var rateCount = 0;
    var series = spec.series.map(function (s) {
      var isRate = s.axis === "rate";
      var item = {
        name: s.name,
        type: s.type,
        data: s.data.map(function (v) {
          return isRate && v !== null ? Math.round(v * 1000) / 10 : v;
        }),
        tooltip: { valueFormatter: isRate ? percent : String },
      };
      item[horizontal ? "xAxisIndex" : "yAxisIndex"] = isRate ? 1 : 0;
      if (isRate) {
        item.color = RATES[s.key] || "#c62828";
        item.symbol = SYMBOLS[rateCount++ % SYMBOLS.length];
        item.symbolSize = horizontal ? 10 : 8;
        item.connectNulls = false;
        item.lineStyle = horizontal ? { width: 0 } : { width: 2.5 };
        item.z = 3;
      } else {
        item.color = BAR;
        item.barMaxWidth = horizontal ? 16 : 34;
        item.itemStyle = { color: "rgba(21, 101, 192, 0.22)", borderRadius: horizontal ? [0, 3, 3, 0] : [3, 3, 0, 0] };
        item.emphasis = { itemStyle: { color: "rgba(21, 101, 192, 0.4)" } };
        item.label = {
          show: true, position: horizontal ? "right" : "insideBottom", color: MUTED, fontSize: 11,
          formatter: function (p) { return p.value ? String(p.value) : ""; },
        };
        item.cursor = spec.link ? "pointer" : "default";
      }
      return item;
    });
    return {
      textStyle: { fontFamily: FONT },
      animationDuration: 400,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      legend: { top: 0, left: 0, itemWidth: 14, itemHeight: 8, textStyle: { color: INK } },
      grid: { left: 8, right: horizontal ? 24 : 12, top: horizontal ? 52 : 60, bottom: 8, containLabel: true },
      xAxis: horizontal ? [countAxis, Object.assign({ position: "top" }, rateAxis)] : category,
      yAxis: horizontal ? category : [countAxis, rateAxis],
      series: series,
    };
  }

  function drawChart(element) {
    var spec = json(element.dataset.chart);
    if (!spec) return;
    var chart = echarts.init(element, null, { renderer: "svg" });
    chart.setOption(barsAndRates(spec));
    if (spec.link) {
      chart.on("click", function (params) {
        var code = spec.codes[params.dataIndex];
        if (code) window.location.href = spec.link + encodeURIComponent(code);
      });
    }
    resizeWith(chart);
  }

  // ---- the grid map ------------------------------------------------------------------------

  // Classes of counts for the legend: 0 apart, then ranges that widen with the largest count,
  // at most one class per colour of the ramp.
  function pieces(max, ramp) {
    var steps = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233].filter(function (e) { return e <= Math.max(max, 1); });
    while (steps.length > ramp.length) steps = steps.filter(function (_, i) { return i % 2 === 0; });
    var out = [{ value: 0, label: "0", color: NONE }];
    steps.forEach(function (low, i) {
      var next = steps[i + 1];
      var piece = next === undefined ? { gte: low, label: low === max ? String(low) : low + "+" }
        : { gte: low, lte: next - 1, label: low === next - 1 ? String(low) : low + "–" + (next - 1) };
      var at = steps.length === 1 ? ramp.length - 3 : Math.round(i * (ramp.length - 1) / (steps.length - 1));
      piece.color = ramp[at];
      out.push(piece);
    });
    return out.reverse();
  }

  function rings(features, kind) {
    var out = [];
    features.forEach(function (f) {
      if (f.properties.kind !== kind) return;
      f.geometry.coordinates.forEach(function (ring) { out.push({ coords: ring }); });
    });
    return out;
  }

  function drawMap(element, config) {
    var chart = echarts.init(element);
    var state = { measure: "open", counts: {} };
    chart.showLoading({ text: "", color: BAR });

    function option() {
      var values = Object.keys(config.names.grid).map(function (code) {
        var c = state.counts[code] || { open: 0, overdue: 0 };
        return { name: code, value: c[state.measure], open: c.open, overdue: c.overdue };
      });
      var max = values.reduce(function (m, v) { return Math.max(m, v.value); }, 0);
      return {
        visualMap: {
          type: "piecewise",
          seriesIndex: 0,
          pieces: pieces(max, RAMPS[state.measure]),
          right: 16,
          bottom: 16,
          itemWidth: 16,
          itemHeight: 12,
          itemGap: 4,
          text: [config.text[state.measure], ""],
          showLabel: true,
          textStyle: { color: INK },
          backgroundColor: "rgba(255, 255, 255, 0.85)",
          padding: 8,
        },
        series: [{ data: values }],
      };
    }

    function tooltip(params) {
      if (params.seriesType !== "map" || !params.data) return "";
      var code = params.name;
      var where = config.places[code] || {};
      var escape = echarts.format.encodeHTML;
      return (
        "<strong>" + escape(config.names.grid[code] || code) + "</strong><br>" +
        '<span style="color:' + MUTED + '">' + escape(config.names.community[where.community] || "") +
        " · " + escape(config.names.town[where.town] || "") + "</span><br>" +
        escape(config.text.open) + ": <strong>" + params.data.open + "</strong><br>" +
        escape(config.text.overdue) + ': <strong style="color:#c62828">' + params.data.overdue + "</strong><br>" +
        '<span style="color:' + MUTED + '">' + escape(config.text.click) + "</span>"
      );
    }

    function refresh() {
      return fetch(config.data, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          state.counts = {};
          data.grids.forEach(function (g) { state.counts[g.code] = g; });
          chart.setOption(option());
        });
    }

    fetch(config.geojson)
      .then(function (r) { return r.json(); })
      .then(function (geo) {
        var grids = geo.features.filter(function (f) { return f.properties.kind === "grid"; });
        config.places = {};
        grids.forEach(function (f) { config.places[f.properties.code] = f.properties; });
        echarts.registerMap("county", { type: "FeatureCollection", features: grids });
        var towns = geo.features.filter(function (f) { return f.properties.kind === "town"; });
        var lat = (geo.bbox ? (geo.bbox[1] + geo.bbox[3]) / 2 : 30.87) * Math.PI / 180;
        chart.setOption({
          textStyle: { fontFamily: FONT },
          tooltip: { trigger: "item", formatter: tooltip, confine: true },
          geo: {
            map: "county",
            nameProperty: "code",
            roam: true,
            scaleLimit: { min: 1, max: 6 },
            aspectScale: Math.cos(lat),
            top: 16, bottom: 16, left: "center",
            itemStyle: { areaColor: NONE, borderColor: "#ffffff", borderWidth: 0.6 },
            emphasis: { label: { show: false }, itemStyle: { areaColor: "#ffd54f", borderColor: "#0b1f3a", borderWidth: 1 } },
            select: { disabled: true },
          },
          series: [
            { type: "map", geoIndex: 0, nameProperty: "code", cursor: "pointer", data: [] },
            {
              type: "lines", coordinateSystem: "geo", polyline: true, silent: true, z: 4,
              lineStyle: { color: "#6b7a90", width: 1.1, opacity: 0.9 },
              data: rings(geo.features, "community"),
            },
            {
              type: "lines", coordinateSystem: "geo", polyline: true, silent: true, z: 5,
              lineStyle: { color: "#0b1f3a", width: 2.4, opacity: 1 },
              data: rings(geo.features, "town"),
            },
            {
              type: "scatter", coordinateSystem: "geo", silent: true, z: 6, symbolSize: 0,
              data: towns.map(function (f) {
                return { name: config.names.town[f.properties.code] || f.properties.name, value: f.properties.cp };
              }),
              label: {
                show: true, formatter: "{b}", color: "#0b1f3a", fontSize: 13, fontWeight: 700,
                textBorderColor: "rgba(255, 255, 255, 0.95)", textBorderWidth: 3,
              },
            },
          ],
        });
        return refresh();
      })
      .then(function () { chart.hideLoading(); })
      .catch(function () {
        chart.hideLoading();
        chart.setOption({
          graphic: { type: "text", left: "center", top: "middle", style: { text: config.text.failed, fill: MUTED, fontSize: 14 } },
        });
      });

    chart.on("click", function (params) {
      if (params.seriesType === "map") window.location.href = config.cases + encodeURIComponent(params.name);
    });
    document.querySelectorAll("[data-measure]").forEach(function (button) {
      button.addEventListener("click", function () {
        state.measure = button.dataset.measure;
        document.querySelectorAll("[data-measure]").forEach(function (b) {
          b.classList.toggle("active", b === button);
          b.setAttribute("aria-pressed", String(b === button));
        });
        chart.setOption(option());
      });
    });
    window.setInterval(refresh, 60000);
    resizeWith(chart);
  }

  document.querySelectorAll("[data-chart]").forEach(drawChart);
  var map = document.getElementById("grid-map");
  if (map) drawMap(map, json("map-config"));
})();
