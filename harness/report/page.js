// report.html: inlined into every page (no network). Filters for the checks table, and
// expand/collapse for the log streams. The page reads fully without it.
(function () {
  'use strict';
  var table = document.querySelector('table.checks');
  var buttons = document.querySelectorAll('.filters button[data-filter]');
  Array.prototype.forEach.call(buttons, function (b) {
    b.addEventListener('click', function () {
      if (table) table.setAttribute('data-show', b.getAttribute('data-filter'));
      Array.prototype.forEach.call(buttons, function (x) {
        x.classList.toggle('on', x === b);
      });
    });
  });
  function setAll(open) {
    Array.prototype.forEach.call(document.querySelectorAll('#logs details.stream'), function (d) {
      d.open = open;
    });
  }
  var exp = document.getElementById('logs-expand');
  var col = document.getElementById('logs-collapse');
  if (exp) exp.addEventListener('click', function () { setAll(true); });
  if (col) col.addEventListener('click', function () { setAll(false); });
})();
