// "Show all code": opens or closes every folded code cell. Without JavaScript the
// button stays hidden and each cell's own "code" toggle (a <details>) still works.
(function () {
  var button = document.querySelector("button.show-code");
  var folds = document.querySelectorAll("details.code-fold");
  if (!button || !folds.length) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var open = button.getAttribute("aria-pressed") !== "true";
    folds.forEach(function (fold) { fold.open = open; });
    button.setAttribute("aria-pressed", String(open));
    button.textContent = open ? "Hide all code" : "Show all code";
  });
})();
