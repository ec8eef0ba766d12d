// Starts Redoc on /api/redoc/ (templates/portal/api_docs/redoc.html). drf-spectacular does this
// in an inline script, which the Content-Security-Policy refuses. Redoc builds its styles as
// <style> elements at run time; given the request's nonce it marks them with it, and that page's
// policy accepts styles with that nonce (portal/urls.py).
(function () {
  "use strict";
  var root = document.getElementById("redoc-container");
  if (!root || !window.Redoc) return;
  var settings = {};
  try { settings = JSON.parse(root.dataset.settings || "{}"); } catch (e) { settings = {}; }
  settings.nonce = root.dataset.nonce;
  // Redoc's search runs in a Worker made from a blob: URL, which script-src 'self' refuses;
  // the side menu lists every operation and the browser's find works on the page.
  if (settings.disableSearch === undefined) settings.disableSearch = true;
  window.Redoc.init(root.dataset.schemaUrl, settings, root);
})();
