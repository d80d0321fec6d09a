// pingcrawl report: draws the embedded data with Cytoscape.js (fCoSE layout).
// After each drawing the page records what it drew on <body> (data-graph-*), so a test in
// a headless browser can check the graph without reading pixels.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var body = document.body;
  var tooltip = document.getElementById("tooltip");
  var KIND_COLOURS = {
    citation: "#2b6cb0",
    pingback: "#2f855a",
    trackback: "#b7791f",
    webmention: "#6b46c1",
  };
  var SPAM = "#c53030";
  var UNKNOWN = "#a0aec0";
  var LARGE = 600; // above this many nodes: the fast (spectral) layout, lighter drawing
  var current = null;

  function verdictClass(kind, verified) {
    if (kind === "citation") return "";
    if (verified === 0) return "spam";
    if (verified === null || verified === undefined) return "unknown";
    return "";
  }

  function verdictWord(kind, verified) {
    if (kind === "citation") return "";
    if (verified === 0) return " · spam (does not link back)";
    if (verified === 1) return " · verified";
    return " · unverified";
  }

  function short(text, n) {
    return text.length > n ? text.slice(0, n - 1) + "…" : text;
  }

  function elementsOf(graph) {
    var count = graph.posts.length + graph.pingers.length;
    var small = count <= 40;
    // Big graphs get smaller nodes, so a dense blog is not one blue blot.
    var base = count > LARGE ? 4 : 10;
    var grow = count > LARGE ? 3 : 7;
    var nodes = graph.posts.map(function (p) {
      var title = p.title || p.id;
      return {
        group: "nodes",
        data: {
          id: p.id,
          title: title,
          label: small ? short(title, 28) : "",
          size: base + grow * Math.sqrt(p.in || 0),
        },
        classes: "post",
      };
    });
    var spamPingers = {};
    graph.pings.forEach(function (e) {
      if (e.verified === 0) spamPingers[e.source] = true;
    });
    graph.pingers.forEach(function (p) {
      nodes.push({
        group: "nodes",
        data: { id: p.id, title: p.title || p.id, label: "", size: 8 },
        classes: "pinger" + (spamPingers[p.id] ? " spam" : ""),
      });
    });
    var edges = graph.edges.concat(graph.pings).map(function (e, i) {
      return {
        group: "edges",
        data: {
          id: "e" + i,
          source: e.source,
          target: e.target,
          kind: e.kind,
          colour: KIND_COLOURS[e.kind] || "#4a5568",
          how: e.kind + verdictWord(e.kind, e.verified),
        },
        classes: verdictClass(e.kind, e.verified),
      };
    });
    return nodes.concat(edges);
  }

  function style(large) {
    return [
      {
        selector: "node",
        style: {
          width: "data(size)",
          height: "data(size)",
          "background-color": "#4a6fa5",
          label: "data(label)",
          "font-size": 9,
          color: "#2d3748",
          "text-valign": "bottom",
          "text-margin-y": 2,
          "min-zoomed-font-size": 6,
        },
      },
      { selector: "node.pinger", style: { shape: "rectangle", "background-color": "#a0aec0" } },
      { selector: "node.pinger.spam", style: { "background-color": SPAM } },
      { selector: "node:selected", style: { "border-width": 3, "border-color": "#1a202c" } },
      {
        selector: "edge",
        style: {
          width: 1.5,
          "line-color": "data(colour)",
          "target-arrow-color": "data(colour)",
          "target-arrow-shape": large ? "none" : "triangle",
          "arrow-scale": 0.8,
          "curve-style": large ? "haystack" : "bezier",
          opacity: 0.8,
        },
      },
      { selector: "edge.unknown", style: { "line-style": "dashed", "line-color": UNKNOWN } },
      {
        selector: "edge.spam",
        style: {
          "line-style": "dashed",
          "line-color": SPAM,
          "target-arrow-color": SPAM,
          width: 2.5,
        },
      },
    ];
  }

  function showTip(event, text) {
    tooltip.textContent = text;
    tooltip.hidden = false;
    var pos = event.renderedPosition || { x: 0, y: 0 };
    var box = event.cy.container().getBoundingClientRect();
    tooltip.style.left = window.scrollX + box.left + pos.x + 12 + "px";
    tooltip.style.top = window.scrollY + box.top + pos.y + 12 + "px";
  }

  function interactive(cy) {
    cy.on("mouseover", "node", function (e) {
      showTip(e, e.target.data("title") + "\n" + e.target.id());
    });
    cy.on("mouseover", "edge", function (e) {
      showTip(e, e.target.data("how"));
    });
    cy.on("mouseout", function () {
      tooltip.hidden = true;
    });
  }

  // Fit the graph, but do not blow three nodes up to fill the screen.
  function fitGently(cy, padding) {
    cy.fit(undefined, padding);
    if (cy.zoom() > 1.6) {
      cy.zoom(1.6);
      cy.center();
    }
  }

  function layoutOptions(count) {
    return {
      name: count > 2 ? "fcose" : "grid",
      quality: count > LARGE ? "draft" : "default",
      animate: false,
      randomize: true,
      nodeDimensionsIncludeLabels: count <= 40,
      padding: 20,
    };
  }

  function draw(blog) {
    var graph = data.blogs.find(function (g) {
      return g.blog === blog;
    });
    if (!graph) return;
    if (current) current.destroy();
    body.dataset.graphReady = "0";
    var elements = elementsOf(graph);
    var count = graph.posts.length + graph.pingers.length;
    var started = performance.now();
    var cy = cytoscape({
      container: document.getElementById("graph"),
      elements: elements,
      style: style(count > LARGE),
      hideEdgesOnViewport: count > LARGE,
      textureOnViewport: count > LARGE,
      wheelSensitivity: 0.3,
    });
    current = cy;
    window.pingcrawlGraph = cy; // for the browser console (and the tests)
    interactive(cy);
    cy.on("tap", "node", function (e) {
      window.open(e.target.id(), "_blank", "noopener");
    });
    var layout = cy.layout(layoutOptions(count));
    layout.on("layoutstop", function () {
      fitGently(cy, 20);
      var box = cy.nodes().boundingBox();
      body.dataset.graphBlog = blog;
      body.dataset.graphPosts = String(cy.nodes(".post").length);
      body.dataset.graphNodes = String(cy.nodes().length);
      body.dataset.graphEdges = String(cy.edges().length);
      body.dataset.graphSpam = String(cy.edges(".spam").length);
      body.dataset.graphExtent = String(Math.round(box.w + box.h));
      body.dataset.layoutMs = String(Math.round(performance.now() - started));
      body.dataset.graphReady = "1";
      document.getElementById("graph-info").textContent =
        graph.posts.length + " posts, " + graph.edges.length + " links between them, " +
        graph.pings.length + " pingbacks from elsewhere";
    });
    layout.run();
  }

  function drawAcross() {
    var across = data.across;
    var elements = across.blogs.map(function (b) {
      return { group: "nodes", data: { id: b, title: b, label: b, size: 16 } };
    });
    across.edges.forEach(function (e, i) {
      elements.push({
        group: "edges",
        data: {
          id: "a" + i,
          source: e.source,
          target: e.target,
          colour: KIND_COLOURS[e.kind] || "#4a5568",
          how: e.count + " × " + e.kind + ": " + e.source + " → " + e.target,
          width: 1 + 2 * Math.log2(1 + e.count),
        },
      });
    });
    var cy = cytoscape({
      container: document.getElementById("across-graph"),
      elements: elements,
      style: style(false).concat([{ selector: "edge", style: { width: "data(width)" } }]),
      wheelSensitivity: 0.3,
    });
    interactive(cy);
    var layout = cy.layout(
      across.blogs.length <= 12
        ? { name: "circle", padding: 30, animate: false }
        : layoutOptions(across.blogs.length)
    );
    layout.on("layoutstop", function () {
      fitGently(cy, 30);
      body.dataset.acrossNodes = String(cy.nodes().length);
      body.dataset.acrossEdges = String(cy.edges().length);
    });
    layout.run();
  }

  var select = document.getElementById("blog-select");
  var wanted = decodeURIComponent((location.hash.match(/blog=([^&]+)/) || [])[1] || "");
  if (wanted && data.blogs.some(function (g) { return g.blog === wanted; })) {
    select.value = wanted;
  }
  select.addEventListener("change", function () {
    history.replaceState(null, "", "#blog=" + encodeURIComponent(select.value));
    draw(select.value);
  });
  drawAcross();
  if (data.blogs.length) {
    draw(select.value);
  } else {
    body.dataset.graphPosts = "0";
    body.dataset.graphReady = "1";
  }
})();
