// The opportunity form's probability hint: a blank probability takes the stage's default,
// so the placeholder shows that default and follows the stage picked. (The server applies
// the same rule; this only shows it.) No inline code under the CSP.
(function () {
  "use strict";

  function refresh(form) {
    var stage = form.querySelector("select[name=stage]");
    var probability = form.querySelector("[data-stage-probability]");
    if (!stage || !probability) { return; }
    var option = stage.options[stage.selectedIndex];
    var value = option ? option.getAttribute("data-probability") : null;
    probability.placeholder = value === null ? "" : value + " (stage default)";
  }

  function refreshAll(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("form[data-opportunity-form]").forEach(refresh);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.name === "stage") {
      var form = target.closest("form[data-opportunity-form]");
      if (form) { refresh(form); }
    }
  });
  document.addEventListener("DOMContentLoaded", function () { refreshAll(document); });
  document.addEventListener("htmx:load", function (event) { refreshAll(event.target); });
})();
