/*
 * Seller portal: the Unpaid page's live total, the card forms (a Stripe.js card field confirming a
 * SetupIntent) and the bank's confirmation of a payment (3-D Secure).
 *
 * Loaded after Stripe.js. Nothing here decides anything: the server re-checks every order, card and
 * amount it is sent, and charges only the total it computes itself.
 */
(function () {
  "use strict";

  var NEW_CARD = "new";
  var stripeInstance = null;

  function getStripe() {
    if (stripeInstance) return stripeInstance;
    var config = document.getElementById("stripe-config");
    if (!config || typeof window.Stripe !== "function") return null;
    stripeInstance = window.Stripe(config.dataset.publishableKey);
    return stripeInstance;
  }

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function setText(selector, text) {
    document.querySelectorAll(selector).forEach(function (el) { el.textContent = text; });
  }

  // --- the Unpaid page: selection, select-all and the server's total ------------------------------

  function setUpCheckout(form) {
    var boxes = Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox][name=order]"));
    var selectAll = form.querySelector("[data-select-all]");
    var expected = form.querySelector("input[name=expected_total]");
    var payButton = form.querySelector("[data-pay-button]");
    var status = form.querySelector("[data-quote-status]");
    var payAnyway = form.querySelector("input[name=pay_despite_cancellation]");
    var requestNo = 0;

    function enabledBoxes() { return boxes.filter(function (box) { return !box.disabled; }); }
    // Orders whose buyer asked to cancel are only ever ticked one by one, never by "select all".
    function selectableBoxes() {
      return enabledBoxes().filter(function (box) { return !box.hasAttribute("data-needs-confirmation"); });
    }
    function chosen() { return enabledBoxes().filter(function (box) { return box.checked; }); }

    function paint() {
      boxes.forEach(function (box) {
        var row = box.closest("tr");
        if (row) row.classList.toggle("row--selected", box.checked);
      });
      if (selectAll) {
        var all = selectableBoxes(), on = all.filter(function (box) { return box.checked; }).length;
        selectAll.checked = all.length > 0 && on === all.length;
        selectAll.indeterminate = on > 0 && on < all.length;
        selectAll.disabled = all.length === 0;
      }
    }

    function updateQuote() {
      var ids = chosen().map(function (box) { return box.value; });
      var mine = ++requestNo;
      payButton.disabled = true;
      if (!ids.length) {
        setText("[data-selection-total]", form.dataset.zeroTotal);
        setText("[data-selection-count]", "0 orders");
        expected.value = "0";
        status.textContent = "";
        return;
      }
      var params = new URLSearchParams();
      ids.forEach(function (id) { params.append("order", id); });
      if (payAnyway && payAnyway.checked) params.append("pay_anyway", "1");
      status.textContent = "Updating the total…";
      fetch(form.dataset.quoteUrl + "?" + params.toString(), {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.error || "");
          return body;
        });
      }).then(function (quote) {
        if (mine !== requestNo) return;
        setText("[data-selection-total]", quote.total_display);
        setText("[data-selection-count]", quote.count_display);
        expected.value = String(quote.total);
        status.textContent = "";
        payButton.disabled = quote.count === 0;
      }).catch(function () {
        if (mine !== requestNo) return;
        // The server asks to confirm the total when it differs, so paying stays safe.
        status.textContent = "The total could not be updated; it is shown to you again before anything is charged.";
        expected.value = "";
        payButton.disabled = false;
      });
    }

    boxes.forEach(function (box) {
      box.addEventListener("change", function () { paint(); updateQuote(); });
    });
    if (selectAll) {
      selectAll.hidden = false;
      selectAll.addEventListener("change", function () {
        selectableBoxes().forEach(function (box) { box.checked = selectAll.checked; });
        paint();
        updateQuote();
      });
    }
    if (payAnyway) payAnyway.addEventListener("change", updateQuote);
    document.querySelectorAll("[data-no-script]").forEach(function (el) { el.hidden = true; });
    paint();
    payButton.disabled = chosen().length === 0;
  }

  // --- card forms: Stripe.js card field, SetupIntent confirmed in the browser -----------------------

  function setUpCardForm(form) {
    var mountPoint = form.querySelector("[data-card-element]");
    var errorBox = form.querySelector("[data-card-error]");
    var panel = form.querySelector("[data-new-card]");
    var radios = Array.prototype.slice.call(form.querySelectorAll("input[type=radio][name=card]"));
    var stripe = getStripe();
    if (!stripe) {
      errorBox.textContent = "The card form could not load. Check your connection and reload the page.";
      return;
    }
    var card = stripe.elements().create("card");
    card.mount(mountPoint);
    card.on("change", function (event) {
      errorBox.textContent = event && event.error ? event.error.message : "";
    });

    function usingNewCard() {
      if (!radios.length) return true;
      var checked = radios.filter(function (radio) { return radio.checked; })[0];
      return Boolean(checked) && checked.value === NEW_CARD;
    }
    function togglePanel() { if (panel) panel.hidden = !usingNewCard(); }
    radios.forEach(function (radio) { radio.addEventListener("change", togglePanel); });
    togglePanel();

    var confirmed = false;
    form.addEventListener("submit", function (event) {
      if (confirmed || !usingNewCard()) return;
      event.preventDefault();
      var submit = event.submitter || form.querySelector("[type=submit]");
      submit.disabled = true;
      errorBox.textContent = "Checking the card with your bank…";
      fetch(form.dataset.setupUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(form), Accept: "application/json" },
        credentials: "same-origin",
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (setup) {
          if (!response.ok || !setup.client_secret) {
            throw new Error(setup.error || "The card form could not start. Reload the page and try again.");
          }
          return stripe.confirmCardSetup(setup.client_secret, { payment_method: { card: card } });
        });
      }).then(function (result) {
        if (result.error) {
          throw new Error(result.error.message || "The card was not accepted. Check the details or use another card.");
        }
        form.querySelector("input[name=setup_intent]").value = result.setupIntent.id;
        confirmed = true;
        errorBox.textContent = "";
        form.submit();
      }).catch(function (err) {
        errorBox.textContent = err && err.message ? err.message : "The card was not accepted.";
        submit.disabled = false;
      });
    });
  }

  // --- the checkout result: the bank's confirmation, then the server reads the payment back --------

  function setUpConfirmation(button) {
    var form = button.closest("form");
    var errorBox = document.querySelector("[data-confirm-error]");
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var stripe = getStripe();
      if (!stripe) {
        errorBox.textContent = "The confirmation could not load. Check your connection and reload the page.";
        return;
      }
      button.disabled = true;
      stripe.confirmCardPayment(button.dataset.clientSecret).then(function () {
        // Whatever the bank said, our server asks Stripe and shows the payment as it now stands.
        form.submit();
      }, function () { form.submit(); });
    });
  }

  document.querySelectorAll("form[data-checkout]").forEach(setUpCheckout);
  document.querySelectorAll("form[data-card-form]").forEach(setUpCardForm);
  document.querySelectorAll("[data-confirm-payment]").forEach(setUpConfirmation);
})();
