// Copy buttons for the record page's citations: a progressive enhancement. Without JavaScript the
// citations are still there, in read-only text boxes to select. Loaded as a file (the app's CSP
// allows scripts from 'self' on the record page only, and no inline script anywhere).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("textarea.copyable").forEach(function (box) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-controls", box.id);
    button.addEventListener("click", function () {
      var done = function () { button.textContent = "Copied"; };
      box.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(box.value).then(done, function () {
          // The clipboard API can be refused; the selection is still there to copy by hand.
          button.textContent = document.execCommand("copy") ? "Copied" : "Press Ctrl+C";
        });
      } else {
        button.textContent = document.execCommand("copy") ? "Copied" : "Press Ctrl+C";
      }
    });
    box.insertAdjacentElement("afterend", button);
  });
});
