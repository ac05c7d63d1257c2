// The job page follows its job without a full reload: every few seconds it fetches itself and swaps
// in the part that changed (#job, a polite live region, so screen readers hear the new step).
// Without JavaScript the page reloads itself instead (<noscript> refresh in its head).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var live = document.getElementById("job");
  if (!live) return;
  var seconds = Number(live.dataset.refresh) || 2;
  function later() { setTimeout(poll, seconds * 1000); }
  function poll() {
    fetch(window.location.href, {cache: "no-store", credentials: "same-origin"})
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("job");
        if (!fresh) return later();
        live.innerHTML = fresh.innerHTML;
        live.dataset.pending = fresh.dataset.pending;
        if (fresh.dataset.pending === "true") later();
      }, later);  // a network hiccup: try again
  }
  if (live.dataset.pending === "true") later();
});
