// Live updates for the queue page (no inline script: the page's CSP is default-src 'self').
//
// The server sends an event on /api/events whenever the ledger changed in a way that may
// change queues; the message carries no request data. The page then asks for itself
// again, with its filters, through the same sign-in as any page, and swaps in the part
// that shows the queue (heading, counts, rows), so what it shows is what the reviewer may
// see. The HTML comes from the server's templates, which escape every request's text:
// nothing here builds markup from request data.
(function () {
  "use strict";
  if (!window.EventSource || !document.getElementById("queue-live")) {
    return;
  }
  var busy = false;
  var again = false;

  function reload() {
    if (busy) {
      again = true; // one more reload once this one is done: it may predate the change
      return;
    }
    busy = true;
    fetch(location.pathname + location.search, {
      credentials: "same-origin",
      headers: { accept: "text/html" },
    })
      .then(function (answer) {
        if (answer.redirected) {
          location.assign(answer.url); // signed out meanwhile: the sign-in page
          throw new Error("signed out");
        }
        if (!answer.ok) {
          throw new Error("queue: " + answer.status);
        }
        return answer.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("queue-live");
        var shown = document.getElementById("queue-live");
        if (fresh && shown) {
          shown.replaceChildren.apply(shown, Array.prototype.slice.call(fresh.childNodes));
          document.title = page.title;
          document.dispatchEvent(new CustomEvent("queue-updated"));
        }
      })
      .catch(function () {
        // Kept as it was; the next event tries again.
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          reload();
        }
      });
  }

  var connected = false;
  var source = new EventSource("/api/events");
  source.addEventListener("ready", function () {
    // The first `ready` opens the stream; a later one follows a reconnection, after
    // which the rows may be stale.
    if (connected) {
      reload();
    }
    connected = true;
    document.documentElement.dataset.live = "on";
  });
  source.addEventListener("queue", reload);
  source.addEventListener("error", function () {
    document.documentElement.dataset.live = "off";
  });
})();
