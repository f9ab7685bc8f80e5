// Venture CRM's own behaviour: the dialog host, the sidebar on small screens and the theme
// toggle. Everything hangs off data- attributes and htmx events: the Content-Security-Policy
// forbids inline scripts and on*= handlers, so no template carries any code.
(function () {
  "use strict";

  var dialog = null;
  var lastFocus = null;

  function dialogHost() {
    if (!dialog) { dialog = document.getElementById("dialog-host"); }
    return dialog;
  }

  function openDialog(variant) {
    var host = dialogHost();
    if (!host) { return; }
    host.classList.toggle("dialog--panel", variant === "panel");
    host.classList.toggle("dialog--modal", variant !== "panel");
    if (!host.open) {
      lastFocus = document.activeElement;
      host.showModal();
    }
  }

  function closeDialog() {
    var host = dialogHost();
    if (host && host.open) { host.close(); }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) { return; }
    if (target.closest("[data-dialog-close]") && dialogHost() && dialogHost().open) {
      event.preventDefault();
      closeDialog();
      return;
    }
    // A click on the backdrop (the dialog element itself, outside its frame) closes it.
    if (target === dialogHost()) { closeDialog(); return; }
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
    if (event.key === "Escape" && document.body.classList.contains("sidebar-open")) {
      setSidebar(false);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var host = dialogHost();
    if (!host) { return; }
    host.addEventListener("close", function () {
      document.getElementById("dialog-body").replaceChildren();
      // Give focus back to what opened the dialog, unless the user has already moved it on
      // ("close" fires a moment after close(): stealing focus then would send keys astray).
      var active = document.activeElement;
      var focusIsLost = !active || active === document.body || host.contains(active);
      if (focusIsLost && lastFocus && typeof lastFocus.focus === "function") { lastFocus.focus(); }
    });
  });

  // Content swapped into the dialog body opens the dialog; the trigger's data-dialog
  // attribute says whether it is a centred modal or a slide-over panel.
  document.addEventListener("htmx:afterSwap", function (event) {
    // An empty swap (after a delete, say) must not open an empty dialog.
    if (event.detail.target && event.detail.target.id === "dialog-body" && event.detail.target.childElementCount > 0) {
      var trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
      var variant = trigger && trigger.closest ? (trigger.closest("[data-dialog]") || {}).dataset : null;
      openDialog(variant && variant.dialog ? variant.dialog : "modal");
    }
  });

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
