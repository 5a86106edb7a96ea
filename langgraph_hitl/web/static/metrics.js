// The metrics page, kept live: every few seconds it fetches /api/metrics for the same
// window and grouping, and rewrites the figures and warning signs in place. Everything
// is set as text (textContent), never as markup.
(function () {
  "use strict";
  var live = document.getElementById("metrics-live");
  if (!live) { return; }
  var every = (parseInt(live.getAttribute("data-every"), 10) || 15) * 1000;

  function el(name, text, cls) {
    var node = document.createElement(name);
    if (text !== undefined) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  function fillTable(id, table) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var head = el("thead"), headRow = el("tr"), body = el("tbody");
    table.header.forEach(function (cell) { headRow.appendChild(el("th", cell)); });
    head.appendChild(headRow);
    table.rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell) { tr.appendChild(el("td", cell)); });
      body.appendChild(tr);
    });
    node.replaceChildren(head, body);
  }

  function fillWarnings(signs) {
    var box = document.getElementById("metrics-warnings");
    if (!box) { return; }
    if (!signs.length) {
      box.className = "warnings none";
      box.replaceChildren(el("strong", "No warning signs."));
      return;
    }
    box.className = "warnings";
    var list = el("ul");
    signs.forEach(function (sign) {
      var item = el("li", undefined, "warning");
      item.appendChild(el("code", sign.name));
      item.appendChild(document.createTextNode(" [" + sign.scope + "]: " + sign.message + " "));
      item.appendChild(el("span", sign.numbers, "note"));
      list.appendChild(item);
    });
    var count = signs.length + " warning sign" + (signs.length === 1 ? "" : "s");
    box.replaceChildren(el("strong", count), list);
  }

  function setText(id, text) {
    var node = document.getElementById(id);
    if (node) { node.textContent = text; }
  }

  function refresh() {
    fetch("/api/metrics" + window.location.search, {
      credentials: "same-origin",
      headers: { "accept": "application/json" }
    }).then(function (answer) {
      if (!answer.ok) { throw new Error("the server answered " + answer.status); }
      return answer.json();
    }).then(function (data) {
      var shown = data.shown;
      fillWarnings(shown.warnings);
      fillTable("metrics-summary", shown.summary);
      fillTable("metrics-strata", shown.strata);
      fillTable("metrics-reviewers", shown.reviewers);
      setText("metrics-window", shown.window);
      setText("metrics-computed", shown.computed);
      setText("metrics-recall-note", shown.recall_note);
      live.textContent = "Refreshed at " + new Date().toLocaleTimeString() + ".";
    }).catch(function (error) {
      live.textContent = "Not refreshed: " + error.message + ".";
    });
  }

  window.setInterval(refresh, every);
}());
