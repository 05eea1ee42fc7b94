// The receiving desk's scan field ([data-scan]) is empty and focused whenever the page is shown, so the barcode
// scanner's next code is never glued onto the last one. The server always renders it empty with autofocus (that
// is all it takes without JavaScript); this covers the rest: a page shown again from the browser's history
// ("back" restores what was typed) is emptied, and the focus returns to the field unless someone is typing
// elsewhere. A fresh page is not emptied: the scanner may already be typing into it.
(function () {
  function ready(event) {
    var field = document.querySelector("input[data-scan]");
    if (!field) return;
    if (event && event.persisted) field.value = "";
    var active = document.activeElement;
    if (active && active !== field && active.form && active.form !== field.form) return;
    field.focus();
  }
  window.addEventListener("pageshow", ready);
})();
