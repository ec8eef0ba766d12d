// Upload progress for evidence forms. Without JavaScript the form posts normally.
(function () {
  "use strict";
  document.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
    if (form.dataset.progressBound) return;
    form.dataset.progressBound = "1";
    form.addEventListener("submit", function (event) {
      var input = form.querySelector("input[type=file]");
      if (!input || !input.files.length || !window.XMLHttpRequest) return;
      event.preventDefault();
      var bar = form.querySelector(".upload-progress");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      // The server answers {"location": ...} instead of redirecting, so the message it
      // set is shown by the page we open, not swallowed by a redirect the XHR followed.
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.upload.addEventListener("progress", function (e) {
        if (bar && e.lengthComputable) {
          bar.hidden = false;
          bar.value = Math.round((e.loaded / e.total) * 100);
        }
      });
      xhr.addEventListener("load", function () {
        var target = null;
        try { target = JSON.parse(xhr.responseText).location; } catch (e) { target = null; }
        window.location.href = target || xhr.responseURL || window.location.href;
      });
      xhr.addEventListener("error", function () { form.submit(); });
      xhr.send(new FormData(form));
    });
  });
})();
