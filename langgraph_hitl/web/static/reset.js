// A reset link carries its one-time code in the fragment (/reset#CODE): browsers never
// send a fragment to the server, nor in a Referer. Copy it into the form, hide the
// field the reviewer would otherwise paste it into, and drop it from the address bar
// and the history.
(function () {
  "use strict";
  var code = window.location.hash.slice(1);
  var field = document.getElementById("reset-token");
  if (!code || !field) {
    return;
  }
  field.value = decodeURIComponent(code);
  field.type = "hidden";
  var label = document.getElementById("reset-code");
  if (label) {
    label.hidden = true;
  }
  window.history.replaceState(null, "", window.location.pathname);
})();
