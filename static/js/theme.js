// Runs before first paint (loaded without defer) so a light-theme user never sees a dark flash.
// The stored choice wins; otherwise the system preference; otherwise dark.
(function () {
  "use strict";
  var stored = null;
  try { stored = window.localStorage.getItem("crm-theme"); } catch (e) { /* private mode */ }
  var prefersLight = window.matchMedia && window.matchMedia("(prefers-color-scheme: light)").matches;
  document.documentElement.dataset.theme = stored || (prefersLight ? "light" : "dark");
})();
