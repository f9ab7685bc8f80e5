// The import wizard's busy state while a form posts: the dry run and the import are queued
// for the background worker (the progress page then shows how far they got), so this only
// covers the moment until that page loads. Hooked on data- attributes (no inline code under the CSP).
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-import-busy")) { return; }
    if (form.dataset.busy === "true") { event.preventDefault(); return; }  // a second click
    form.dataset.busy = "true";
    var submitter = event.submitter;
    var status = form.querySelector(".import-busy");
    if (status) {
      var text = status.querySelector("[data-busy-text]");
      if (text && submitter && submitter.dataset.busyLabel) { text.textContent = submitter.dataset.busyLabel; }
      status.hidden = false;
      var elapsed = status.querySelector("[data-busy-elapsed]");
      if (elapsed) {
        var started = Date.now();
        window.setInterval(function () {
          var seconds = Math.round((Date.now() - started) / 1000);
          if (seconds >= 2) { elapsed.textContent = seconds + " s"; }
        }, 1000);
      }
    }
    // Disable the buttons after the browser has read the form (the clicked button's value goes with it).
    window.setTimeout(function () {
      form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
      form.setAttribute("aria-busy", "true");
    }, 0);
  });

  // Coming back with the browser's Back button shows the page from its cache: make it usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-import-busy]").forEach(function (form) {
      form.dataset.busy = "";
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button").forEach(function (button) { button.disabled = false; });
      form.querySelectorAll(".import-busy").forEach(function (status) { status.hidden = true; });
    });
  });
})();
