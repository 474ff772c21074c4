// Live updates: the server sends an event when the chain or the index moves; the page fetches its own view
// again (as a fragment) and swaps the main area. No framework, nothing loaded from elsewhere.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var dot = document.getElementById("live");
  var blockEl = document.getElementById("block");
  var indexedEl = document.getElementById("indexed");
  var busy = false, again = false;

  function autosubmit(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { headers: { "X-Console-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) {
        var block = r.headers.get("X-Block"), indexed = r.headers.get("X-Indexed");
        if (block) blockEl.textContent = block;
        indexedEl.textContent = indexed ? "indexed to " + indexed : "no index";
        return r.text();
      })
      .then(function (html) {
        main.innerHTML = html;
        main.dataset.block = blockEl.textContent;
        autosubmit(main);
      })
      .catch(function () { dot.className = "dot off"; })
      .finally(function () { busy = false; if (again) { again = false; refresh(); } });
  }

  autosubmit(document);
  if (!window.EventSource) return;
  var source = new EventSource("/events");
  source.addEventListener("open", function () { dot.className = "dot on"; });
  source.addEventListener("error", function () { dot.className = "dot off"; });
  source.addEventListener("block", function (ev) {
    var data = JSON.parse(ev.data);
    if (String(data.block) !== main.dataset.block || String(data.indexed) !== indexedEl.dataset.seen) {
      indexedEl.dataset.seen = String(data.indexed);
      refresh();
    }
  });
})();
