// Live tables (data-live): each refreshes itself every 10 s through htmx (hx-trigger="every 10s"
// on the table's block, with the query it shows). A refresh is held back to the next tick while
// it would get in the reviewer's way: keyboard focus or a text selection inside the table, a
// dialog or disclosure open on the page, another request of the page under way (its element
// carries htmx-request), or the tab not shown at all. And a refresh answered after the reviewer
// asked for another view (a filter, a page) is not swapped in: it would bring the old view back.
// A refresh says so (X-Live-Refresh): it is not the reviewer's activity, and a page left open
// must still reach the idle time-out. Cells that load their own content (data-lazy: a board
// row's review by exception) are part of the table, not a view the reviewer asked for, and
// are not activity either.
(function () {
  "use strict";
  var asked = 0; // requests of the page other than refreshes, started so far

  function inUse(block) {
    var focused = document.activeElement;
    if (focused && focused !== document.body && block.contains(focused)) return true;
    var selection = window.getSelection();
    if (selection && !selection.isCollapsed && block.contains(selection.anchorNode)) return true;
    return document.querySelector("dialog[open], details[open], .htmx-request") !== null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var block = event.detail.elt;
    if (block.hasAttribute("data-lazy")) return;
    if (!block.hasAttribute("data-live")) {
      asked += 1;
    } else if (document.hidden || inUse(block)) {
      event.preventDefault();
    } else {
      event.detail.xhr.liveAskedBefore = asked;
    }
  });

  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.hasAttribute("data-live") || elt.hasAttribute("data-lazy")) {
      event.detail.headers["X-Live-Refresh"] = "1";
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var before = event.detail.xhr.liveAskedBefore;
    if (before !== undefined && before !== asked) event.detail.shouldSwap = false;
  });
})();
