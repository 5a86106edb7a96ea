// Keyboard shortcuts on a request's page: `a` goes to the Approve button (Enter then
// approves: two keys, never one), `r` to the rejection's reason, `e` to the edit form,
// `?` shows or hides the list. Keys do nothing while the reviewer types in a field.
(function () {
  "use strict";

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function toggleList(show) {
    var list = document.getElementById("shortcuts");
    if (list) {
      list.hidden = show === undefined ? !list.hidden : !show;
    }
  }

  function focus(element) {
    if (!element) {
      return false;
    }
    element.focus();
    if (element.scrollIntoView) {
      element.scrollIntoView({ block: "center" });
    }
    return true;
  }

  function firstField(form) {
    return form && form.querySelector("input:not([type=hidden]), select, textarea");
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    var done = false;
    if (event.key === "a") {
      done = focus(document.getElementById("approve"));
    } else if (event.key === "r") {
      done = focus(document.getElementById("reason"));
    } else if (event.key === "e") {
      done = focus(firstField(document.getElementById("modify")));
    } else if (event.key === "?") {
      toggleList();
      done = true;
    } else if (event.key === "Escape") {
      toggleList(false);
    }
    if (done) {
      // The key moved the focus: it must not also type its letter into the field.
      event.preventDefault();
    }
  });

  var button = document.getElementById("show-keys");
  if (button) {
    button.addEventListener("click", function () {
      toggleList();
    });
  }
})();
