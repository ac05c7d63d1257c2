// Content only a script produces: the capture must record the XHR and its result.
fetch('/api/live.json')
  .then(function (r) { return r.json(); })
  .then(function (d) { document.getElementById('live-data').textContent = d.message; });
