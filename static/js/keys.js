// Keyboard shortcuts: j/k or the arrow keys move through list rows and board cards, Enter
// opens the one you are on, e edits the open record, ? shows the list of shortcuts. "/" and
// Ctrl/Cmd-K (focus search) live in search.js. Keys typed into a field are the field's.
// Also the arrow keys and Enter in the contact and organization pickers.
(function () {
  "use strict";

  // A row counts when it opens something: the lists' rows carry a panel link.
  var ITEM = "#main tbody tr, #main .board-card";
  var OPENER = "[data-row-link], [data-card-link], a[data-dialog='panel'], a[href]";

  function isTyping(target) {
    return target instanceof Element &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function host() { return document.getElementById("dialog-host"); }
  function modalOpen() { var h = host(); return !!h && h.open && h.matches(":modal"); }

  function items() {
    return Array.prototype.filter.call(document.querySelectorAll(ITEM), function (item) {
      return item.getClientRects().length > 0 && item.querySelector(OPENER);
    });
  }

  function current() {
    var active = document.activeElement;
    var item = active instanceof Element ? active.closest(ITEM) : null;
    return item || document.querySelector("[data-key-current]");
  }

  function mark(item) {
    document.querySelectorAll("[data-key-current]").forEach(function (other) {
      if (other !== item) { other.removeAttribute("data-key-current"); }
    });
    item.setAttribute("data-key-current", "");
    if (!item.hasAttribute("tabindex")) { item.setAttribute("tabindex", "-1"); }
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function move(step) {
    var all = items();
    if (!all.length) { return false; }
    var index = all.indexOf(current());
    var next = index === -1 ? 0 : Math.min(all.length - 1, Math.max(0, index + step));
    mark(all[next]);
    return true;
  }

  // On the board, left and right go to the card at the same height in the next column.
  function moveAcross(step) {
    var card = current();
    if (!card || !card.classList.contains("board-card")) { return false; }
    var columns = Array.prototype.slice.call(document.querySelectorAll("#main .board-column"));
    var column = card.closest(".board-column");
    var position = Array.prototype.indexOf.call(column.querySelectorAll(".board-card"), card);
    for (var i = columns.indexOf(column) + step; i >= 0 && i < columns.length; i += step) {
      var cards = columns[i].querySelectorAll(".board-card");
      if (cards.length) {
        mark(cards[Math.min(position, cards.length - 1)]);
        return true;
      }
    }
    return false;
  }

  // Arrows scroll the page unless the keyboard is already on the list.
  function onTheList() {
    var active = document.activeElement;
    return !active || active === document.body || active.id === "main" ||
      (active instanceof Element && !!active.closest(ITEM));
  }

  function openCurrent() {
    var item = current();
    var link = item && item.querySelector(OPENER);
    if (link) { link.click(); return true; }
    return false;
  }

  function editOpenRecord() {
    var h = host();
    var scope = h && h.open ? document.getElementById("dialog-body") : document.getElementById("main");
    var edit = scope ? scope.querySelector("[data-edit]") : null;
    if (edit) { edit.click(); return true; }
    return false;
  }

  function showShortcuts() {
    var template = document.getElementById("shortcuts-help");
    var body = document.getElementById("dialog-body");
    if (!template || !body || !window.crm) { return false; }
    body.replaceChildren(template.content.cloneNode(true));
    window.crm.openDialog("modal");
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (isTyping(event.target) || modalOpen()) { return; }
    var key = event.key;
    var done = false;
    if (key === "?") {
      done = showShortcuts();
    } else if (key === "j" || key === "k") {
      done = move(key === "j" ? 1 : -1);
    } else if ((key === "ArrowDown" || key === "ArrowUp") && onTheList()) {
      done = move(key === "ArrowDown" ? 1 : -1);
    } else if ((key === "ArrowLeft" || key === "ArrowRight") && onTheList()) {
      done = moveAcross(key === "ArrowRight" ? 1 : -1);
    } else if (key === "Enter" && document.activeElement && document.activeElement.matches(ITEM)) {
      done = openCurrent();
    } else if (key === "e" && !event.shiftKey) {
      done = editOpenRecord();
    }
    if (done) { event.preventDefault(); }
  });

  // --- Pickers: the arrow keys walk the matches, Enter picks one, Escape hides them. ---

  var pickedBy = null;  // the picker whose choice the keyboard made: focus goes back into it

  function pickerOptions(input) {
    var picker = input.closest("[data-picker]");
    return picker ? Array.prototype.slice.call(picker.querySelectorAll(".picker-results .picker-option")) : [];
  }

  function setPickerActive(input, options, index) {
    options.forEach(function (option, i) {
      var on = i === index;
      if (!option.id) { option.id = input.id + "-option-" + i; }
      option.classList.toggle("is-active", on);
      option.setAttribute("aria-selected", on ? "true" : "false");
      if (on) { option.scrollIntoView({ block: "nearest" }); }
    });
    if (index >= 0) {
      input.setAttribute("aria-activedescendant", options[index].id);
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.classList.contains("picker-search")) { return; }
    var options = pickerOptions(input);
    var index = options.findIndex(function (option) { return option.classList.contains("is-active"); });
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!options.length) { return; }
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      setPickerActive(input, options, index === -1 ? (step > 0 ? 0 : options.length - 1) : (index + step + options.length) % options.length);
    } else if (event.key === "Enter" && index !== -1) {
      event.preventDefault();  // not the form's submit: pick the match
      pickedBy = input.closest("[data-picker]").id;
      options[index].click();
    } else if (event.key === "Escape" && options.length) {
      event.preventDefault();  // hide the matches, keep the dialog
      input.closest("[data-picker]").querySelector(".picker-results").replaceChildren();
      input.removeAttribute("aria-activedescendant");
    }
  });

  // The picker comes back re-rendered with the choice: keep the keyboard in it.
  document.addEventListener("htmx:load", function (event) {
    var elt = event.target;
    if (!pickedBy || !(elt instanceof Element) || elt.id !== pickedBy) { return; }
    pickedBy = null;
    var next = elt.querySelector("input.picker-search, .picker-chosen ~ button, button");
    if (next) { next.focus(); }
  });
})();
