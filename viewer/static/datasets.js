// chat-tracer viewer: the runs table's "select all on this page" box, and "Add selected to
// dataset…" enabled once a run is ticked. No dependencies; without this file the table's own
// checkboxes and every dataset form work the same (the box stays hidden).
(function () {
  "use strict";

  function runsTable(form) {
    var all = form.querySelector("[data-select-all]");
    var add = form.querySelector("[data-add-selected]");

    function boxes() {
      // Read each time: rows arriving live bring their own boxes.
      return Array.prototype.slice.call(form.querySelectorAll('tbody input[type="checkbox"][name="run"]'));
    }

    function update() {
      var list = boxes();
      var ticked = list.filter(function (box) { return box.checked; }).length;
      if (all) {
        all.checked = list.length > 0 && ticked === list.length;
        all.indeterminate = ticked > 0 && ticked < list.length;
      }
      if (add) {
        add.disabled = ticked === 0;
        add.title = ticked === 0 ? "Tick one or more runs to add them to a dataset" : "";
      }
    }

    if (all) {
      all.hidden = false;
      all.addEventListener("change", function () {
        boxes().forEach(function (box) { box.checked = all.checked; });
        // Let the other listeners (the compare button's count) see the new selection.
        form.dispatchEvent(new Event("change", { bubbles: true }));
      });
    }
    form.addEventListener("change", update);
    update();
  }

  function start() {
    var form = document.querySelector(".runs-page form.compare-form");
    if (form) {
      runsTable(form);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
