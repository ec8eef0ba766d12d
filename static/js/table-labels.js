/* On a phone, tables stack their cells one under the other (portal.css) and hide the header row:
   give each body cell its column's heading as data-label, which portal.css writes before the value.
   Cells that already carry a data-label (set by their template) keep it; spanning cells are skipped. */
(function () {
  "use strict";
  function headings(table) {
    var row = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    var labels = [];
    if (!row) { return labels; }
    Array.prototype.forEach.call(row.cells, function (th) {
      var text = th.textContent.replace(/\s+/g, " ").trim();
      for (var i = 0; i < (th.colSpan || 1); i += 1) { labels.push(text); }
    });
    return labels;
  }
  function label(table) {
    var labels = headings(table);
    if (!labels.length) { return; }
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (tr) {
        var column = 0;
        Array.prototype.forEach.call(tr.cells, function (cell) {
          var span = cell.colSpan || 1;
          var text = span === 1 ? labels[column] : "";
          if (text && cell.tagName === "TD" && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", text);
          }
          column += span;
        });
      });
    });
  }
  function run() { Array.prototype.forEach.call(document.querySelectorAll("table"), label); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
}());
