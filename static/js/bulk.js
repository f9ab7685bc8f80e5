// Row selection and the bulk-action bar of list pages (the contacts list today).
//
// Markup: a <form data-bulk data-total="N"> holds the table; rows carry
// <input type="checkbox" name="ids" data-bulk-row>, the header a [data-bulk-page] box, and
// the bar [data-bulk-count], [data-bulk-select-all], [data-bulk-all-note], [data-bulk-clear],
// [data-bulk-merge] and a hidden input[data-bulk-all]. "Select all N matching" sets that
// input to 1: the server then re-runs the list's filter from the posted query string
// instead of trusting a list of ids.
//
// Also: a click anywhere on a row opens its panel (the row's [data-row-link]), and the
// filter form drops empty parameters so pushed URLs stay short and shareable.
// Everything is delegated from document: the table is re-rendered by htmx all the time.
(function () {
  "use strict";

  function rows(form) { return Array.prototype.slice.call(form.querySelectorAll("[data-bulk-row]")); }

  function refresh(form) {
    var boxes = rows(form);
    var checked = boxes.filter(function (box) { return box.checked; });
    var allInput = form.querySelector("[data-bulk-all]");
    var all = allInput && allInput.value === "1";
    if (checked.length < boxes.length && allInput) { allInput.value = ""; all = false; }
    var total = parseInt(form.dataset.total || "0", 10);

    form.classList.toggle("has-selection", checked.length > 0);
    boxes.forEach(function (box) {
      var row = box.closest("tr");
      if (row) { row.classList.toggle("is-selected", box.checked); }
    });

    var page = form.querySelector("[data-bulk-page]");
    if (page) {
      page.checked = boxes.length > 0 && checked.length === boxes.length;
      page.indeterminate = checked.length > 0 && checked.length < boxes.length;
    }
    var count = form.querySelector("[data-bulk-count]");
    if (count) {
      var n = all ? total : checked.length;
      count.textContent = n + (n === 1 ? " contact selected" : " contacts selected");
    }
    var selectAll = form.querySelector("[data-bulk-select-all]");
    var note = form.querySelector("[data-bulk-all-note]");
    if (selectAll) { selectAll.hidden = all || checked.length !== boxes.length || boxes.length === 0; }
    if (note) { note.hidden = !all; }
    var merge = form.querySelector("[data-bulk-merge]");
    if (merge) { merge.disabled = all || checked.length !== 2; }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement)) { return; }
    var form = target.closest("[data-bulk]");
    if (!form) { return; }
    if (target.matches("[data-bulk-page]")) {
      rows(form).forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches("[data-bulk-page], [data-bulk-row]")) { refresh(form); }
    if (target.matches("[data-bulk-row]") && target.checked) { revealAboveBar(form, target.closest("tr")); }
  });

  // The bar floats over the foot of the screen: a row ticked right above the fold would sit
  // under it, so scroll just enough to show that row above the bar (the rows never move within
  // the table; the page scrolls).
  function revealAboveBar(form, row) {
    var bar = form.querySelector(".bulk-bar");
    if (!bar || !row) { return; }
    var covered = row.getBoundingClientRect().bottom - bar.getBoundingClientRect().top;
    if (covered > 0) { window.scrollBy(0, covered + 8); }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) { return; }
    var form = target.closest("[data-bulk]");
    if (form && target.closest("[data-bulk-select-all]")) {
      form.querySelector("[data-bulk-all]").value = "1";
      refresh(form);
      return;
    }
    if (form && target.closest("[data-bulk-clear]")) {
      rows(form).forEach(function (box) { box.checked = false; });
      form.querySelector("[data-bulk-all]").value = "";
      refresh(form);
      return;
    }
    // A click on a row, outside its links, buttons and checkbox, opens the row's panel.
    var row = target.closest("tr[data-row]");
    if (row && !target.closest("a, button, input, label, select, textarea")) {
      var link = row.querySelector("[data-row-link]");
      if (link && !(window.getSelection && String(window.getSelection()).length)) { link.click(); }
    }
  });

  // Empty filter fields stay out of the URL: /contacts/?status=active, not ?q=&status=active&tag=…
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.closest || !elt.closest("[data-contact-filters]")) { return; }
    var params = event.detail.parameters;
    var empty = [];
    params.forEach(function (value, key) { if (value === "") { empty.push(key); } });
    empty.forEach(function (key) { params.delete(key); });
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    if (target && target.querySelector && target.querySelector("[data-bulk]")) {
      target.querySelectorAll("[data-bulk]").forEach(refresh);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-bulk]").forEach(refresh);
  });
})();
