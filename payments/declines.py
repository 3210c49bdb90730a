"""Stripe's decline and error codes, said in plain words for the seller.

Stripe recommends not telling a cardholder a card was reported lost, stolen or
fraudulent; those read as a generic decline. Unknown codes fall back to
Stripe's own message, which is already written for people.
"""

GENERIC = "Your bank declined the charge. Try another card, or ask your bank why."

_MESSAGES = {
    # decline codes (error.decline_code)
    "generic_decline": GENERIC,
    "do_not_honor": GENERIC,
    "lost_card": GENERIC,
    "stolen_card": GENERIC,
    "fraudulent": GENERIC,
    "pickup_card": GENERIC,
    "restricted_card": GENERIC,
    "security_violation": GENERIC,
    "transaction_not_allowed": "Your bank does not allow this kind of charge on this card. Try another card.",
    "insufficient_funds": "The card has insufficient funds. Add funds or use another card.",
    "card_velocity_exceeded": "The card has reached its spending limit. Try again later or use another card.",
    "withdrawal_count_limit_exceeded": "The card has reached its spending limit. Try again later or use another card.",
    "expired_card": "The card has expired. Add a new card.",
    "incorrect_cvc": "The card's security code is wrong. Add the card again.",
    "incorrect_number": "The card number is wrong. Add the card again.",
    "invalid_account": "The card or its account is no longer valid. Add a new card.",
    "card_not_supported": "This card does not support this kind of payment. Use another card.",
    "currency_not_supported": "This card cannot be charged in our currency. Use another card.",
    "try_again_later": "Your bank could not process the charge right now. It will be tried again.",
    "processing_error": "Your bank could not process the charge right now. It will be tried again.",
    "issuer_not_available": "Your bank could not be reached. It will be tried again.",
    "approve_with_id": "Your bank could not approve the charge right now. It will be tried again.",
    "authentication_required": "Your bank wants you to confirm this payment. Pay the order by hand in the portal.",
    # error codes (error.code)
    "card_declined": GENERIC,
    "payment_intent_authentication_failure": (
        "The payment was not confirmed with your bank. Try again or use another card."
    ),
    "payment_method_unactivated": "This card is not activated yet. Use another card.",
    "resource_missing": "The saved card is no longer on file. Add a card again.",
    "no_default_card": "There is no default card on file. Add a card in the portal.",
    "requires_action": "Your bank wants you to confirm this payment. Pay the order by hand in the portal.",
    "abandoned": "The confirmation with your bank was not finished, so the payment was cancelled.",
    "canceled": "The payment was cancelled before it went through.",
}


def decline_message(*, code: str = "", decline_code: str = "", fallback: str = "") -> str:
    """The most specific plain-words reason we know for a failed charge."""
    for key in (decline_code, code):
        if key and key in _MESSAGES:
            return _MESSAGES[key]
    return fallback or GENERIC
