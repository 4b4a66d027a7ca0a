// The scope page's "on the consent page" line follows the description (and a new scope's name) as
// it is typed (scopes/admin/registry.py). A file, not an inline script: the CSP allows 'self' only.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var preview = document.getElementById("consent-preview");
  if (!preview) { return; }
  function follow(fieldId, selector, empty) {
    var field = document.getElementById(fieldId);
    var target = preview.querySelector(selector);
    if (!field || !target) { return; }
    field.addEventListener("input", function () { target.textContent = field.value || empty; });
  }
  follow("id_description", ".scope-desc", "(the description)");
  follow("id_name", "code", "(the name)");
});
