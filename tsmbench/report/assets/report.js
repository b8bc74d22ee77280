(function () {
  "use strict";
  function cellValue(row, index) {
    var cell = row.cells[index];
    var text = cell ? (cell.getAttribute("data-sort") || cell.textContent || "").trim() : "";
    var number = parseFloat(text.replace(/,/g, ""));
    return isNaN(number) ? { n: null, t: text.toLowerCase() } : { n: number, t: text };
  }
  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var ascending = !th.classList.contains("sorted-asc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index), r;
      if (x.n !== null && y.n !== null) { r = x.n - y.n; }
      else if (x.n !== null) { r = -1; }
      else if (y.n !== null) { r = 1; }
      else { r = x.t < y.t ? -1 : (x.t > y.t ? 1 : 0); }
      return ascending ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.querySelectorAll("th"), function (h) {
      h.classList.remove("sorted-asc", "sorted-desc");
    });
    th.classList.add(ascending ? "sorted-asc" : "sorted-desc");
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var head = table.tHead;
    if (!head || !head.rows.length) { return; }
    Array.prototype.forEach.call(head.rows[0].cells, function (th, index) {
      th.classList.add("sortable");
      th.addEventListener("click", function () { sortBy(table, index, th); });
    });
  });
  document.documentElement.setAttribute("data-report-ready", String(tables.length));
})();
