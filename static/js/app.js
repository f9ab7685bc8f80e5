// Venture CRM's own behaviour: the dialog host, the sidebar on small screens and the theme
// toggle. Everything hangs off data- attributes and htmx events: the Content-Security-Policy
// forbids inline scripts and on*= handlers, so no template carries any code.
(function () {
  "use strict";

  // A record opened from a list slides in beside it as a non-modal dialog (show()): no
  // backdrop, the list stays scrollable and clickable. Forms, confirmations and the
  // shortcuts help are modal (showModal()). The one host switches between the two.
  var lastFocus = null;
  var lastFocusHref = null;
  // While a panel opened from the page shows its record's address: {base, record}. Back (or
  // closing the panel) returns to base; htmx must not re-fetch the page for that step.
  var panelHistory = null;
  var skipRestoreOf = null;
  var pendingPanel = false;

  function dialogHost() { return document.getElementById("dialog-host"); }
  function dialogBody() { return document.getElementById("dialog-body"); }
  function here() { return window.location.pathname + window.location.search; }
  function isModal(host) { return !!host && host.open && host.matches(":modal"); }

  function openDialog(variant, opener) {
    var host = dialogHost();
    if (!host) { return; }
    var modal = variant !== "panel";
    // A dialog cannot turn modal while open: close it and open it the other way. The
    // "close" event comes later and finds it open again, so it keeps the new content.
    if (opener) { rememberOpener(opener); } else if (!host.open) { rememberOpener(document.activeElement); }
    if (host.open && isModal(host) !== modal) { host.close(); }
    host.classList.toggle("dialog--panel", !modal);
    host.classList.toggle("dialog--modal", modal);
    if (!host.open) {
      if (modal) { host.showModal(); } else { host.show(); }
    }
    focusInto(host);
  }

  function rememberOpener(element) {
    if (!element || element === document.body || dialogHost().contains(element)) { return; }
    lastFocus = element;
    lastFocusHref = element.getAttribute ? element.getAttribute("href") : null;
  }

  // Focus goes to the first field of a form, otherwise to the content's heading.
  function focusInto(host) {
    var body = dialogBody();
    var first = body && body.firstElementChild;
    if (!first) { return; }
    var target = body.querySelector("[autofocus]");
    if (!target && !first.matches("article")) {
      var form = first.matches("form") ? first : first.querySelector("form");
      target = form && firstField(form);
    }
    if (!target) {
      target = body.querySelector("#dialog-title, h1, h2, h3");
      if (target && !target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
    }
    (target || host).focus();
  }

  function firstField(root) {
    var fields = root.querySelectorAll("input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].getClientRects().length) { return fields[i]; }
    }
    return null;
  }

  function closeDialog() {
    var host = dialogHost();
    if (host && host.open) { host.close(); }
  }

  function restoreFocus() {
    var target = lastFocus;
    if ((!target || !target.isConnected) && lastFocusHref) {
      // The list re-rendered after a save: the same link in the new rows.
      var candidates = document.querySelectorAll("#main a[href]");
      target = null;
      for (var i = 0; i < candidates.length; i++) {
        if (candidates[i].getAttribute("href") === lastFocusHref) { target = candidates[i]; break; }
      }
    }
    if (!target || !target.isConnected) { target = document.getElementById("main"); }
    lastFocus = null;
    lastFocusHref = null;
    if (target && typeof target.focus === "function") { target.focus(); }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) { return; }
    var host = dialogHost();
    if (target.closest("[data-dialog-close]") && host && host.open) {
      event.preventDefault();
      closeDialog();
      return;
    }
    // A click on the backdrop (the dialog element itself, outside its frame) closes it.
    if (target === host) { closeDialog(); return; }
    if (target.closest("[data-theme-toggle]")) {
      var next = document.documentElement.dataset.theme === "light" ? "dark" : "light";
      document.documentElement.dataset.theme = next;
      try { window.localStorage.setItem("crm-theme", next); } catch (e) { /* private mode */ }
      return;
    }
    var toggle = target.closest("[data-sidebar-toggle]");
    if (toggle) {
      setSidebar(!document.body.classList.contains("sidebar-open"));
      return;
    }
    // On small screens the drawer closes when a link in it is followed or the page behind it is clicked.
    if (document.body.classList.contains("sidebar-open") && (target.closest(".nav-link") || !target.closest("#sidebar"))) {
      setSidebar(false);
    }
  });

  function setSidebar(open) {
    document.body.classList.toggle("sidebar-open", open);
    document.querySelectorAll("[data-sidebar-toggle]").forEach(function (button) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) { return; }
    if (document.body.classList.contains("sidebar-open")) {
      setSidebar(false);
      return;
    }
    // A modal closes itself on Escape; a non-modal panel does not, so it is done here.
    var host = dialogHost();
    var inSearch = event.target instanceof Element && event.target.closest("[data-global-search]");
    if (host && host.open && !isModal(host) && !inSearch) {
      var menu = event.target instanceof Element ? event.target.closest("details[open]") : null;
      if (menu) { menu.open = false; menu.querySelector("summary").focus(); return; }
      event.preventDefault();
      closeDialog();
    }
  });

  // "close" does not bubble; listening on the document (capture) also covers a host that a
  // history restore has swapped in.
  document.addEventListener("close", function (event) {
    var host = event.target;
    if (!(host instanceof HTMLDialogElement) || host.id !== "dialog-host") { return; }
    if (host.open) { return; }  // reopened the other way (panel <-> modal): nothing closed
    dialogBody().replaceChildren();
    if (panelHistory) {
      // Closing the panel takes its address out of the bar: the same step as Back.
      var entry = panelHistory;
      panelHistory = null;
      if (here() === entry.record && window.history.state && window.history.state.crmPanel) {
        skipRestoreOf = entry.base;
        window.history.back();
      }
    }
    // Give focus back to what opened the dialog, unless the user has already moved it on
    // ("close" fires a moment after close(): stealing focus then would send keys astray).
    var active = document.activeElement;
    var focusIsLost = !active || active === document.body || host.contains(active);
    if (focusIsLost) { restoreFocus(); } else { lastFocus = null; lastFocusHref = null; }
  }, true);

  // Content swapped into the dialog body opens the dialog; the trigger's data-dialog
  // attribute says whether it is a centred modal or a slide-over panel.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    // An empty swap (after a delete, say) must not open an empty dialog.
    if (target && target.id === "dialog-body" && target.childElementCount > 0) {
      var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
      var holder = trigger && trigger.closest ? trigger.closest("[data-dialog]") : null;
      var variant = pendingPanel ? "panel" : (holder && holder.dataset.dialog) || "modal";
      // A form or link inside the dialog is gone by now (swapped out): that is not the page.
      var fromPage = !!trigger && trigger.isConnected && !!trigger.closest && !trigger.closest("#dialog-host");
      openDialog(variant, fromPage ? trigger : null);
      if (variant === "panel" && !pendingPanel && fromPage) { pushPanelAddress(trigger); }
      pendingPanel = false;
      return;
    }
    // "Log a touch" and other forms swapped into a record: bring them into view and focus them.
    if (target && target.matches && target.matches("[data-focus-swap]") && target.firstElementChild) {
      target.scrollIntoView({ block: "nearest" });
      var field = firstField(target);
      if (field) { field.focus({ preventScroll: true }); }
    }
  });

  // A record opened from the page puts its own address in the bar (the full page lives
  // there too), so it can be bookmarked, reloaded and closed with Back.
  function pushPanelAddress(trigger) {
    var first = dialogBody().firstElementChild;
    var href = trigger.tagName === "A" ? trigger.getAttribute("href") : null;
    if (!href || !first || !first.matches("article[id$='-panel']")) { return; }
    var url = new URL(href, window.location.href);
    if (url.origin !== window.location.origin) { return; }
    var record = url.pathname + url.search;
    if (panelHistory) {
      // Another row while a panel is open: Back still goes to the list, not the last record.
      window.history.replaceState({ crmPanel: true, base: panelHistory.base }, "", record);
      panelHistory.record = record;
    } else if (record !== here()) {
      panelHistory = { base: here(), record: record };
      window.history.pushState({ crmPanel: true, base: panelHistory.base }, "", record);
    }
  }

  window.addEventListener("popstate", function (event) {
    // htmx's own popstate handler runs in this same dispatch; the skip is for it alone.
    window.setTimeout(function () { skipRestoreOf = null; }, 0);
    var now = here();
    if (panelHistory && now !== panelHistory.record) {
      // Back from a panel's address: close the panel, leave the list as it is.
      if (now === panelHistory.base) { skipRestoreOf = now; }
      panelHistory = null;
      closeDialog();
      return;
    }
    var state = event.state;
    var host = dialogHost();
    if (state && state.crmPanel && host && !host.open && typeof htmx !== "undefined") {
      // Forward onto a panel's address: open the panel again over the list.
      panelHistory = { base: state.base, record: now };
      pendingPanel = true;
      htmx.ajax("GET", now, { target: "#dialog-body", swap: "innerHTML" });
    }
  });

  // htmx restores its own history entries by fetching the page again; for the step from a
  // panel back to the list it opened over, the list is still on screen.
  document.addEventListener("htmx:historyCacheMiss", function (event) {
    if (skipRestoreOf !== null && event.detail.path === skipRestoreOf) { event.preventDefault(); }
    skipRestoreOf = null;
  });
  // htmx moved the address itself (a list filter, say): the panel's entry is no longer on top.
  document.addEventListener("htmx:pushedIntoHistory", function () { panelHistory = null; });
  document.addEventListener("htmx:historyRestore", function () { panelHistory = null; });

  // The sidebar badge comes back out-of-band after every change to an action; the
  // communications tab's "N overdue" count follows it, so it never goes stale.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "overdue-badge") { return; }
    var badge = document.getElementById("overdue-badge");  // the new one: the target was replaced
    if (!badge) { return; }
    var count = parseInt(badge.dataset.overdue || "0", 10);  // the empty badge has none: 0
    document.querySelectorAll("[data-overdue-tab]").forEach(function (tab) {
      tab.textContent = count + " overdue";
      tab.hidden = count === 0;
    });
  });

  // Export links carry the list's filter. When htmx refreshes a list and pushes its new URL,
  // bring every [data-export-link] in step, so an export is exactly what the list shows.
  function syncExportLinks() {
    var params = new URLSearchParams(window.location.search);
    params.delete("page");
    document.querySelectorAll("[data-export-link]").forEach(function (link) {
      var url = new URL(link.href, window.location.href);
      var format = url.searchParams.get("format");
      var next = new URLSearchParams(params);
      next.delete("format");
      if (format) { next.set("format", format); }
      var query = next.toString();
      link.href = url.pathname + (query ? "?" + query : "");
    });
  }
  document.addEventListener("htmx:pushedIntoHistory", syncExportLinks);
  document.addEventListener("htmx:replacedInHistory", syncExportLinks);

  // The server closes the dialog after a successful save by sending HX-Trigger: closeDialog.
  document.addEventListener("closeDialog", closeDialog);

  // A failed htmx request must not fail silently: show what happened.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var text = status === 403 ? "Your role does not allow this." :
      status === 404 ? "That record no longer exists." :
      "The server could not complete that (error " + status + "). Nothing was saved.";
    showMessage(text, "error");
  });
  document.addEventListener("htmx:sendError", function () {
    showMessage("The server did not answer. Check your connection; nothing was saved.", "error");
  });

  function showMessage(text, level) {
    var box = document.getElementById("messages");
    if (!box) { return; }
    var node = document.createElement("div");
    node.className = "message message--" + (level || "info");
    node.setAttribute("role", "status");
    node.textContent = text;
    box.appendChild(node);
  }

  window.crm = { openDialog: openDialog, closeDialog: closeDialog, showMessage: showMessage };
})();
