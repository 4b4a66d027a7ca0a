// Passkeys (accounts.passkeys): the browser's side of the WebAuthn ceremonies. No inline script:
// the pages mark their buttons with data attributes and load this file (Content-Security-Policy).
(function () {
  "use strict";

  function csrf() {
    var field = document.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? "{}" : JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) {
        data.status = response.status;
        return data;
      });
    });
  }

  function say(element, text) {
    var out = document.getElementById(element.getAttribute("data-passkey-status") || "passkey-status");
    if (out) { out.textContent = text; }
  }

  function register(button) {
    post(button.getAttribute("data-options")).then(function (options) {
      if (options.error) {
        if (options.location) { window.location = options.location; return null; }
        throw new Error(options.error);
      }
      var publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
      return navigator.credentials.create({ publicKey: publicKey });
    }).then(function (credential) {
      if (!credential) { return null; }
      var name = document.getElementById("id_passkey_name");
      return post(button.getAttribute("data-register"), {
        credential: credential.toJSON(),
        name: name ? name.value : "",
      });
    }).then(function (result) {
      if (!result) { return; }
      if (result.error) { throw new Error(result.error); }
      var codes = result.recovery_codes || [];
      if (!codes.length) { window.location = button.getAttribute("data-done"); return; }
      // The first factor's recovery codes: shown once, here, never put in a URL.
      var list = document.getElementById("passkey-recovery-codes");
      codes.forEach(function (code) {
        var item = document.createElement("li");
        var text = document.createElement("code");
        text.textContent = code;
        item.appendChild(text);
        list.appendChild(item);
      });
      document.getElementById("passkey-added").hidden = false;
    }).catch(function (error) { say(button, "The passkey was not added: " + error.message); });
  }

  function authenticate(button) {
    post(button.getAttribute("data-options")).then(function (options) {
      if (options.error) { throw new Error(options.error); }
      var publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
      return navigator.credentials.get({ publicKey: publicKey });
    }).then(function (credential) {
      return post(button.getAttribute("data-verify"), {
        credential: credential.toJSON(),
        next: button.getAttribute("data-next") || "",
      });
    }).then(function (result) {
      if (result.error) { throw new Error(result.error); }
      window.location = result.location;
    }).catch(function (error) { say(button, "The passkey was not accepted: " + error.message); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-passkey]");
    if (!button) { return; }
    event.preventDefault();
    if (button.getAttribute("data-passkey") === "register") { register(button); } else { authenticate(button); }
  });
})();
