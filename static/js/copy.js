// Copy buttons: <button data-copy-from="input-id" hidden>. The button stays hidden without
// JavaScript, where the readonly input is there to select and copy by hand.
"use strict";

(function () {
  function reveal() {
    document.querySelectorAll("button[data-copy-from]").forEach(function (button) {
      button.hidden = false;
    });
  }

  if (!document.documentElement.hasAttribute("data-copy-ready")) {
    document.documentElement.setAttribute("data-copy-ready", "");
    document.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-copy-from]");
      if (!button) {
        return;
      }
      var input = document.getElementById(button.getAttribute("data-copy-from"));
      input.select();
      var done = function () {
        button.textContent = "Copied";
        document.dispatchEvent(new CustomEvent("portal:announce", {
          detail: { text: "Copied to the clipboard." },
        }));
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {});
      } else if (document.execCommand("copy")) {
        done();
      }
    });
    document.addEventListener("htmx:afterSettle", reveal);
  }
  reveal();
})();
