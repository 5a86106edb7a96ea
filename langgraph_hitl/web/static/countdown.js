// The deadline counting down: each <time data-countdown datetime="..."> reads as the
// server writes it ("in 2 h 5 min", "overdue by 40 s"; `inbox.until`), kept current.
(function () {
  "use strict";

  function until(deadline, now) {
    var left = Math.round((deadline - now) / 1000);
    var amount = Math.abs(left);
    var days = Math.floor(amount / 86400);
    var hours = Math.floor((amount % 86400) / 3600);
    var minutes = Math.floor((amount % 3600) / 60);
    var seconds = amount % 60;
    var text;
    if (days) {
      text = days + " d " + hours + " h";
    } else if (hours) {
      text = hours + " h " + minutes + " min";
    } else if (minutes) {
      text = minutes + " min";
    } else {
      text = seconds + " s";
    }
    return left >= 0 ? "in " + text : "overdue by " + text;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var deadline = Date.parse(el.getAttribute("datetime"));
      if (isNaN(deadline)) {
        return;
      }
      el.textContent = until(deadline, now);
      el.classList.toggle("overdue", deadline < now);
    });
  }

  tick();
  window.setInterval(tick, 1000);
})();
