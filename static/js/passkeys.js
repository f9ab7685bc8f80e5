// Beside django-otp-webauthn's own scripts (static/django_otp_webauthn/, served from the
// installed package): they run the passkey ceremonies; this file fills in around them.
(function () {
  "use strict";

  // Their status messages go through gettext(), which Django's JavaScript catalog view would
  // define. The CRM speaks English only, so the messages pass through as written and the
  // pages need no extra view.
  if (typeof window.gettext !== "function") {
    window.gettext = function (text) { return text; };
  }

  // A passkey was just saved: ask for its name (the URL carries its id in place of 0).
  document.addEventListener("otp_webauthn.register_complete", function (event) {
    var holder = document.querySelector("[data-passkey-name-url]");
    var id = event.detail && event.detail.id;
    if (!holder || !id) { return; }
    window.location.assign(holder.dataset.passkeyNameUrl.replace("/0/", "/" + encodeURIComponent(id) + "/"));
  });
})();
