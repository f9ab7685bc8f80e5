// The pipeline board: SortableJS glue. Each column is a <form> whose cards each carry a
// hidden <input name="order">, so after a drop the form already holds the column's new
// order; we only ask htmx to post it (hx-trigger="reorder"). The server answers with the
// column, the columns the card left and the fund header. No inline code (CSP): everything
// hangs off data- attributes and htmx events.
(function () {
  "use strict";

  var lastDragEnd = 0;

  function initColumns(root) {
    if (typeof Sortable === "undefined" || typeof htmx === "undefined") { return; }
    var scope = root && root.querySelectorAll ? root : document;
    var lists = Array.prototype.slice.call(scope.querySelectorAll("[data-sortable]"));
    if (scope.matches && scope.matches("[data-sortable]")) { lists.push(scope); }
    lists.forEach(function (list) {
      if (Sortable.get(list)) { return; }
      Sortable.create(list, {
        // A locked column (a won stage, for a member) keeps its own order but takes no
        // cards from others; the server refuses such a move anyway.
        group: { name: "pipeline", put: !list.hasAttribute("data-locked") },
        draggable: ".board-card",
        animation: 150,
        // Mouse-event emulation instead of native HTML5 drag: the same in every browser,
        // and a short move is still a click on the card.
        forceFallback: true,
        fallbackTolerance: 4,
        fallbackOnBody: true,
        // Near the board's edge while dragging, the board scrolls (where it is wider than the
        // screen), so the first column's cards reach the last column.
        scroll: true,
        bubbleScroll: true,
        scrollSensitivity: 40,
        scrollSpeed: 14,
        ghostClass: "sortable-ghost",
        chosenClass: "sortable-chosen",
        dragClass: "sortable-drag",
        onStart: function () { document.body.classList.add("is-dragging"); },
        onEnd: function () {
          document.body.classList.remove("is-dragging");
          lastDragEnd = Date.now();
        },
        // Only the receiving column posts: its order now includes the card that arrived.
        onAdd: function (event) { save(event.to); },
        onUpdate: function (event) { save(event.to); }
      });
    });
  }

  function save(list) {
    var form = list.closest("form");
    if (form) { htmx.trigger(form, "reorder"); }
  }

  // A drop must not also count as a click on the link it ended over.
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element) || !target.closest(".board")) { return; }
    if (Date.now() - lastDragEnd < 250) {
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    // A click anywhere on a card (not on one of its controls) opens the card's panel.
    var card = target.closest(".board-card");
    if (card && !target.closest("a, button, input, select, textarea, label")) {
      var link = card.querySelector("[data-card-link]");
      if (link) { link.click(); }
    }
  }, true);

  // Switching fund is a new page (header actions, title and address all change with it).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select instanceof HTMLSelectElement && select.id === "board-fund" && select.form) {
      event.stopPropagation();
      select.form.submit();
    }
  }, true);

  // If saving a column fails, the browser's order is no longer the truth: reload the board.
  function resyncOnFailure(event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.classList && elt.classList.contains("board-column")) {
      htmx.trigger(document.body, "pipelineChanged");
    }
  }
  document.addEventListener("htmx:responseError", resyncOnFailure);
  document.addEventListener("htmx:sendError", resyncOnFailure);

  document.addEventListener("DOMContentLoaded", function () { initColumns(document); });
  // Columns swapped in (normally or out-of-band) need their Sortable too.
  document.addEventListener("htmx:load", function (event) { initColumns(event.target); });
  document.addEventListener("htmx:afterSettle", function () { initColumns(document); });
})();
