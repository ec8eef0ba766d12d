// The "Print" button of the printable certificate. A static file rather than an onclick
// attribute: the Content-Security-Policy allows scripts from 'self' only. The button is
// hidden until this runs, so a reader without JavaScript sees no button that does nothing
// (the browser's own print command still works).
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (holder) {
    var button = holder.querySelector("button");
    if (!button) return;
    holder.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
