// Sign-In with Ethereum: ask the wallet for an account, fetch the EIP-4361 message the console built for it,
// have the wallet sign it (personal_sign shows the text to the person), send it back, open the console.
(function () {
  "use strict";
  var button = document.getElementById("siwe");
  var status = document.getElementById("siwe-status");
  function say(text) { status.textContent = text; }
  button.addEventListener("click", function () {
    if (!window.ethereum) { say("No Ethereum wallet in this browser."); return; }
    var account;
    window.ethereum.request({ method: "eth_requestAccounts" })
      .then(function (accounts) {
        account = accounts[0];
        return fetch("/siwe/message?address=" + encodeURIComponent(account), { credentials: "same-origin" });
      })
      .then(function (r) { if (!r.ok) throw new Error("the console refused the address"); return r.json(); })
      .then(function (built) {
        return window.ethereum.request({ method: "personal_sign", params: [built.message, account] })
          .then(function (signature) {
            return fetch("/siwe/login", {
              method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ message: built.message, signature: signature })
            });
          });
      })
      .then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); })
      .then(function (answer) {
        if (answer[0]) { window.location.href = "/fleet"; } else { say("Refused: " + answer[1].error); }
      })
      .catch(function (err) { say(String(err.message || err)); });
  });
})();
