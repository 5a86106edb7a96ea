// Keyboard shortcuts for the queue: j/k move a selection, Enter opens it, ? shows help,
// Esc hides it. Never while typing in a field, and never with Ctrl, Alt or Cmd held.
(function () {
  "use strict";
  var selected = null; // the selected row's request id: it survives a live update

  function rows() {
    return Array.prototype.slice.call(
      document.querySelectorAll("#queue-live tbody tr[data-request]")
    );
  }

  function show(scroll) {
    rows().forEach(function (row) {
      var on = row.dataset.request === selected;
      row.classList.toggle("selected", on);
      if (on) {
        row.setAttribute("aria-current", "true");
        if (scroll) {
          row.scrollIntoView({ block: "nearest" });
        }
      } else {
        row.removeAttribute("aria-current");
      }
    });
  }

  function move(step) {
    var list = rows();
    if (!list.length) {
      return;
    }
    var at = -1;
    list.forEach(function (row, i) {
      if (row.dataset.request === selected) {
        at = i;
      }
    });
    if (at < 0) {
      at = step > 0 ? 0 : list.length - 1;
    } else {
      at = Math.min(list.length - 1, Math.max(0, at + step));
    }
    selected = list[at].dataset.request;
    show(true);
  }

  function typing(target) {
    return (
      target &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
    );
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    var help = document.getElementById("queue-help");
    if (event.key === "?" && help) {
      help.hidden = !help.hidden;
      event.preventDefault();
    } else if (event.key === "Escape" && help && !help.hidden) {
      help.hidden = true;
    } else if (event.key === "j") {
      move(1);
    } else if (event.key === "k") {
      move(-1);
    } else if (event.key === "Enter" && selected && !/^(A|BUTTON)$/.test(event.target.tagName)) {
      var link = document.querySelector(
        '#queue-live tr.selected a[href^="/requests/"]'
      );
      if (link) {
        event.preventDefault();
        link.click();
      }
    }
  });

  document.addEventListener("queue-updated", function () {
    show(false);
  });
})();
