// Small helpers on top of plain HTML forms (everything works without them).
// Previews of chosen photos: <input type="file" data-preview="ID"> shows thumbnails in the list #ID.
document.addEventListener("change", function (event) {
  var input = event.target;
  if (!input.matches || !input.matches("input[type=file][data-preview]")) return;
  var list = document.getElementById(input.getAttribute("data-preview"));
  if (!list) return;
  list.replaceChildren();
  Array.prototype.forEach.call(input.files || [], function (file) {
    var item = document.createElement("li");
    if (file.type.indexOf("image/") === 0) {
      var img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = file.name;
      img.onload = function () { URL.revokeObjectURL(img.src); };
      item.appendChild(img);
    }
    var name = document.createElement("div");
    name.className = "muted";
    name.textContent = file.name + " · " + Math.ceil(file.size / 1024) + " KB";
    item.appendChild(name);
    list.appendChild(item);
  });
});

// Upload progress: a form with data-progress="ID" is sent with XMLHttpRequest and the <progress id=ID> shows how
// much has gone; the server answers 204 + X-Location instead of a redirect, and the browser goes there.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.matches || !form.matches("form[data-progress]") || !window.FormData) return;
  var bar = document.getElementById(form.getAttribute("data-progress"));
  event.preventDefault();
  var xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  xhr.setRequestHeader("X-Progress", "1");
  xhr.upload.onprogress = function (e) {
    if (e.lengthComputable && bar) { bar.hidden = false; bar.value = Math.round(100 * e.loaded / e.total); }
  };
  xhr.onload = function () {
    var target = xhr.getResponseHeader("X-Location");
    if (xhr.status === 204 && target) { window.location.assign(target); return; }
    // A refusal comes back as a whole page: show it.
    document.documentElement.innerHTML = xhr.responseText;
  };
  // The button pressed is part of what the form says (e.g. the inspection's "all fine"), as in a plain submit.
  var by = event.submitter;
  xhr.onerror = function () {
    form.removeAttribute("data-progress");
    if (by && form.requestSubmit) { form.requestSubmit(by); } else { form.submit(); }
  };
  Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) { b.disabled = true; });
  var data = new FormData(form);
  if (by && by.name) data.append(by.name, by.value);
  xhr.send(data);
});

// Reply templates (话术): choosing one puts its text, with the case's placeholders filled, into the reply box.
// Without JavaScript the "Use" button reloads the page with the template filled in.
document.addEventListener("change", function (event) {
  var select = event.target;
  if (!select.matches || !select.matches("select[data-fill]")) return;
  var box = document.getElementById(select.getAttribute("data-fill"));
  var option = select.options[select.selectedIndex];
  if (box && option && option.getAttribute("data-text") !== null) {
    box.value = option.getAttribute("data-text");
    box.focus();
  }
});

// Quantity steppers: the − / + buttons beside a number input in [data-stepper] move it within its min and max.
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-stepper] button[data-step]") : null;
  if (!button) return;
  var input = button.parentNode.querySelector("input[type=number]");
  var value = (parseInt(input.value, 10) || 0) + parseInt(button.getAttribute("data-step"), 10);
  value = Math.max(parseInt(input.min || "0", 10), Math.min(parseInt(input.max || "999999", 10), value));
  input.value = String(value);
  input.dispatchEvent(new Event("change", { bubbles: true }));
});
