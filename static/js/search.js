// The header's global search: "/" or Ctrl/Cmd-K focuses it, htmx fetches grouped results as
// you type (hx-get on the input in base.html), and this file makes the dropdown a listbox
// the keyboard drives: arrow keys move, Enter opens, Escape closes. Without JS the box is
// a plain GET form to /search/.
(function () {
  "use strict";

  var active = -1;
  var stale = false; // typed since the shown results arrived: Enter searches instead of opening

  function input() { return document.getElementById("global-search-input"); }
  function results() { return document.getElementById("search-results"); }
  function form() { return document.querySelector("[data-global-search]"); }

  function options() {
    var list = results();
    return list ? Array.prototype.slice.call(list.querySelectorAll('[role="option"]:not([aria-disabled="true"])')) : [];
  }

  function hasContent() {
    var list = results();
    return !!list && list.children.length > 0 && input().value.trim() !== "";
  }

  function isOpen() {
    var list = results();
    return !!list && !list.hidden;
  }

  function open() {
    if (!hasContent()) { close(); return; }
    results().hidden = false;
    input().setAttribute("aria-expanded", "true");
  }

  function close() {
    var list = results();
    if (list) { list.hidden = true; }
    if (input()) { input().setAttribute("aria-expanded", "false"); }
    setActive(-1);
  }

  function setActive(index) {
    var all = options();
    active = all.length ? index : -1;
    all.forEach(function (option, i) {
      var on = i === active;
      option.setAttribute("aria-selected", on ? "true" : "false");
      option.classList.toggle("is-active", on);
      if (on) { option.scrollIntoView({ block: "nearest" }); }
    });
    var box = input();
    if (!box) { return; }
    if (active >= 0) {
      box.setAttribute("aria-activedescendant", all[active].id);
    } else {
      box.removeAttribute("aria-activedescendant");
    }
  }

  function move(step) {
    var count = options().length;
    if (!count) { return; }
    if (!isOpen()) { open(); }
    setActive(active < 0 ? (step > 0 ? 0 : count - 1) : (active + step + count) % count);
  }

  function isTyping(target) {
    return target instanceof Element &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function focusSearch() {
    var box = input();
    if (!box) { return; }
    var dialog = document.getElementById("dialog-host");
    if (dialog && dialog.open && dialog.matches(":modal")) {
      // The page behind a modal dialog is inert; close it first, then focus once app.js has
      // given focus back to whatever opened the dialog. A slide-over panel can stay open.
      dialog.addEventListener("close", function () { window.setTimeout(focusSearch, 0); }, { once: true });
      dialog.close();
      return;
    }
    box.focus();
    box.select();
    open();
  }

  document.addEventListener("keydown", function (event) {
    var key = event.key;
    if ((key === "k" || key === "K") && (event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey) {
      if (!input()) { return; }
      event.preventDefault();
      focusSearch();
      return;
    }
    if (key === "/" && !event.ctrlKey && !event.metaKey && !event.altKey && !isTyping(event.target)) {
      if (!input()) { return; }
      event.preventDefault();
      focusSearch();
      return;
    }
    if (event.target !== input()) { return; }
    if (key === "ArrowDown" || key === "ArrowUp") {
      event.preventDefault();
      move(key === "ArrowDown" ? 1 : -1);
    } else if (key === "Enter") {
      var chosen = options()[active];
      if (isOpen() && !stale && chosen) {
        event.preventDefault();
        close();
        chosen.click();
      }
      // Otherwise the form submits: the full results page.
    } else if (key === "Escape") {
      if (isOpen()) {
        // A search field clears itself on Escape; here Escape only closes the list.
        event.preventDefault();
        close();
      }
    } else if (key === "Tab") {
      close();
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target !== input()) { return; }
    stale = true;
    setActive(-1);
    if (input().value.trim() === "") { close(); }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target === input() && hasContent()) { open(); }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element) || !form()) { return; }
    if (target.closest("#search-results [role='option']")) {
      // htmx (or the browser, for "see all" links) handles the click; the list just goes away.
      window.setTimeout(close, 0);
    } else if (!form().contains(target)) {
      close();
    }
  });

  document.addEventListener("mousemove", function (event) {
    var target = event.target;
    var option = target instanceof Element ? target.closest("#search-results [role='option']") : null;
    if (option) {
      var index = options().indexOf(option);
      if (index !== -1 && index !== active) { setActive(index); }
    }
  });

  // Fresh results swapped in (outerHTML): show them and preselect the first, so Enter opens it.
  document.addEventListener("htmx:load", function (event) {
    if (!(event.target instanceof Element) || event.target.id !== "search-results") { return; }
    stale = false;
    var status = document.querySelector("[data-search-status]");
    var count = event.target.getAttribute("data-search-count");
    if (status) {
      status.textContent = input().value.trim() === "" ? "" :
        count === "0" ? "No results." : count + " result" + (count === "1" ? "" : "s") + ".";
    }
    if (document.activeElement === input() && hasContent()) {
      open();
      setActive(options().length ? 0 : -1);
    } else {
      close();
    }
  });
})();
