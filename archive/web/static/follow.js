// A page that follows something still going on (a capture job, a crawl) without a full reload:
// every few seconds it fetches itself and swaps in its [data-follow] part (a polite live region, so
// screen readers hear what changed), until that part says it is no longer pending.
// Without JavaScript such a page reloads itself instead (a <noscript> refresh in its head).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var live = document.querySelector("[data-follow]");
  if (!live || !live.id) return;
  var seconds = Number(live.dataset.refresh) || 2;
  function later() { setTimeout(poll, seconds * 1000); }
  function poll() {
    fetch(window.location.href, {cache: "no-store", credentials: "same-origin"})
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(live.id);
        if (!fresh) return later();
        live.innerHTML = fresh.innerHTML;
        live.dataset.pending = fresh.dataset.pending;
        if (fresh.dataset.pending === "true") later();
      }, later);  // a network hiccup: try again
  }
  if (live.dataset.pending === "true") later();
});
