"""The seller's wholesale payments to us (DOMAIN.md R4, R7): payments, their orders, refunds, Auto Checkout.

Stripe holds the cards; we keep only Stripe ids (dj-stripe's Customer and
PaymentMethod rows, and the PaymentIntent/Refund ids below). Transition
methods are pure: they check and set fields. The services in
``payments.services`` lock the rows, call Stripe outside any transaction that
holds a lock, save and audit.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from accounts.models import Seller
from core.models import AuditEvent
from core.money import money
from orders.models import Order


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REQUIRES_ACTION = "requires_action", "Needs the seller's confirmation"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


# Money has been (or is being) taken: these payments keep their orders' allocations active.
MONEY_TAKEN = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)


class PaymentTrigger(models.TextChoices):
    MANUAL = "manual", "Manual checkout"
    AUTO_CHECKOUT = "auto_checkout", "Auto Checkout"
    RECORDED = "recorded", "Recorded by Finance"


class LedgerMethod(models.TextChoices):
    """How money moved between the seller and us: every payment and refund is one or the other."""

    CARD = "card", "Card"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"


def _fully_refunded(payment) -> bool:
    return payment.amount_refunded >= payment.amount


class Payment(ConcurrentTransitionMixin, models.Model):
    """Money the seller paid us for one or many orders: one charge of their card (one Stripe PaymentIntent),
    or a bank transfer Finance recorded (amount, reference, date). Together with ``Refund`` it is the
    seller's ledger: what they paid and what went back, by method."""

    seller = models.ForeignKey(Seller, on_delete=models.PROTECT, related_name="payments")
    method = models.CharField(max_length=16, choices=LedgerMethod.choices, default=LedgerMethod.CARD)
    trigger = models.CharField(max_length=16, choices=PaymentTrigger.choices)
    status = FSMField(max_length=24, choices=PaymentStatus.choices, default=PaymentStatus.PENDING, protected=True)
    amount = models.PositiveIntegerField(help_text="Total charged, in minor units of the currency.")
    currency = models.CharField(max_length=3, help_text="ISO code, lower case as Stripe writes it.")
    amount_refunded = models.PositiveIntegerField(default=0)

    # A bank transfer: the bank's reference and the day the money arrived.
    reference = models.CharField(max_length=200, blank=True, help_text="The bank transfer's reference.")
    received_on = models.DateField(null=True, blank=True, help_text="The day the bank transfer arrived.")

    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    # Only while an on-session payment waits for the seller's bank (3-D Secure), for Stripe.js.
    client_secret = models.CharField(max_length=255, blank=True, editable=False)

    failure_code = models.CharField(max_length=64, blank=True, help_text="Stripe's code, e.g. card_declined.")
    failure_message = models.CharField(max_length=500, blank=True, help_text="Why, in plain words, for the seller.")

    reconcile_at = models.DateTimeField(
        null=True, blank=True, help_text="A payment still processing at this time is settled with Stripe by the timer."
    )
    timer_error = models.CharField(max_length=500, blank=True)

    created_by = models.CharField(max_length=250, help_text="Who started it.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(amount_refunded__lte=F("amount")), name="payment_refund_within_amount"),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=~Q(stripe_payment_intent_id=""),
                name="payment_intent_id_unique",
            ),
            # A card charge is Stripe's; a bank transfer has its reference and date, is never Stripe's, and is
            # recorded once the money is in.
            models.CheckConstraint(
                condition=Q(method="card") & ~Q(stripe_customer_id="")
                | Q(
                    method="bank_transfer",
                    stripe_customer_id="",
                    stripe_payment_intent_id="",
                    received_on__isnull=False,
                    status__in=["succeeded", "partially_refunded", "refunded"],
                )
                & ~Q(reference=""),
                name="payment_method_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["reconcile_at", "id"], name="payment_reconcile_idx", condition=Q(status="processing")),
            models.Index(fields=["seller", "-created_at"], name="payment_seller_created_idx"),
        ]
        permissions = [("refund_payment", "Can refund a seller's payment")]

    def __str__(self):
        return f"payment #{self.pk} {money(self.amount, self.currency)} ({self.get_status_display().lower()})"

    @property
    def idempotency_key(self) -> str:
        """Sent with the PaymentIntent create: a replay of the same payment can never charge twice at Stripe."""
        return f"payment-{self.pk}"

    @property
    def refundable(self) -> int:
        return self.amount - self.amount_refunded

    # --- transitions -------------------------------------------------------------

    @transition(field=status, source=PaymentStatus.PENDING, target=PaymentStatus.PROCESSING)
    def start(self, *, now):
        """About to call Stripe: from here the payment counts as taking money until Stripe says otherwise."""
        self.reconcile_at = now + settings.PAYMENT_STALE_AFTER

    @transition(
        field=status, source=[PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION], target=PaymentStatus.SUCCEEDED
    )
    def succeed(self, *, intent_id: str, charge_id: str, now):
        self.stripe_payment_intent_id = intent_id or self.stripe_payment_intent_id
        self.stripe_charge_id = charge_id or self.stripe_charge_id
        self.succeeded_at = now
        self.reconcile_at = None
        self.client_secret = ""
        self.failure_code = self.failure_message = ""

    @transition(
        field=status, source=[PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION], target=PaymentStatus.FAILED
    )
    def fail(self, *, intent_id: str, code: str, message: str):
        self.stripe_payment_intent_id = intent_id or self.stripe_payment_intent_id
        self.failure_code = code[:64]
        self.failure_message = message[:500]
        self.reconcile_at = None
        self.client_secret = ""

    @transition(field=status, source=PaymentStatus.PROCESSING, target=PaymentStatus.REQUIRES_ACTION)
    def require_action(self, *, intent_id: str, client_secret: str, code: str, message: str):
        """The seller's bank wants the seller present (3-D Secure)."""
        self.stripe_payment_intent_id = intent_id or self.stripe_payment_intent_id
        self.client_secret = client_secret
        self.failure_code = code[:64]
        self.failure_message = message[:500]
        self.reconcile_at = None

    @transition(
        field=status,
        source=[PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED],
        target=RETURN_VALUE(PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED),
    )
    def record_refund(self, *, amount: int):
        """Money went back to the seller's card."""
        self.amount_refunded += amount
        return PaymentStatus.REFUNDED if _fully_refunded(self) else PaymentStatus.PARTIALLY_REFUNDED


class PaymentOrder(models.Model):
    """One order's share of a payment.

    ``active`` is true while the payment may take or has taken money (processing,
    waiting for the seller's bank, succeeded, refunded). The partial unique
    constraint is what makes a double charge impossible: an order can have at
    most one active share, whoever tries to charge it at the same moment.
    """

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payment_allocations")
    amount = models.PositiveIntegerField(help_text="This order's share: its lines at wholesale cost plus the fee.")
    amount_refunded = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=False)

    class Meta:
        ordering = ["order_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(active=True), name="payment_order_one_active_per_order"
            ),
            models.UniqueConstraint(fields=["payment", "order"], name="payment_order_unique"),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount")), name="payment_order_refund_within_share"
            ),
        ]

    def __str__(self):
        return f"{self.order} in {self.payment}"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RefundKind(models.TextChoices):
    ORDER_CANCELLED = "order_cancelled", "Order cancelled"
    MANUAL = "manual", "Refund requested"
    RETURN = "return", "Return refunded"
    EXTERNAL = "external", "Refunded at Stripe"


class Refund(ConcurrentTransitionMixin, models.Model):
    """Money going back to the seller, by the payment's method.

    To a card: the intent is written first, Stripe is called after commit. By
    bank transfer: the refund is owed (``pending``) until Finance records the
    transfer it sent, with the real amount, its reference and date.
    """

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    allocation = models.ForeignKey(
        PaymentOrder,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        help_text="The order whose share this gives back, if it is for one order.",
    )
    kind = models.CharField(max_length=16, choices=RefundKind.choices)
    method = models.CharField(max_length=16, choices=LedgerMethod.choices, default=LedgerMethod.CARD)
    status = FSMField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING, protected=True)
    amount = models.PositiveIntegerField()
    reason = models.CharField(max_length=500, blank=True)
    stripe_refund_id = models.CharField(max_length=255, blank=True)
    reference = models.CharField(max_length=200, blank=True, help_text="The bank transfer's reference.")
    sent_on = models.DateField(null=True, blank=True, help_text="The day the bank transfer was sent.")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Pending: (re)send to Stripe at this time. Processing: settle if still unanswered.",
    )
    timer_error = models.CharField(max_length=500, blank=True)

    created_by = models.CharField(max_length=250)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.UniqueConstraint(
                fields=["stripe_refund_id"], condition=~Q(stripe_refund_id=""), name="refund_stripe_id_unique"
            ),
            # Cancelling an order gives its share back once, however often the cancellation is seen.
            models.UniqueConstraint(
                fields=["allocation"], condition=Q(kind="order_cancelled"), name="refund_one_per_cancelled_order"
            ),
            # A refund by bank transfer is never Stripe's, and once sent it has its reference and date.
            models.CheckConstraint(
                condition=Q(method="card", reference="", sent_on__isnull=True)
                | Q(method="bank_transfer", stripe_refund_id="")
                & (~Q(status="succeeded") | ~Q(reference="") & Q(sent_on__isnull=False)),
                name="refund_method_consistent",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="refund_next_attempt_idx",
                condition=Q(next_attempt_at__isnull=False),
            ),
        ]

    def __str__(self):
        status = self.get_status_display().lower()
        return f"refund #{self.pk} {money(self.amount)} of payment #{self.payment_id} ({status})"

    @property
    def idempotency_key(self) -> str:
        return f"refund-{self.pk}"

    @transition(field=status, source=RefundStatus.PENDING, target=RefundStatus.PROCESSING)
    def start(self, *, now):
        self.attempts += 1
        self.next_attempt_at = now + settings.PAYMENT_STALE_AFTER

    @transition(field=status, source=RefundStatus.PROCESSING, target=RefundStatus.PENDING)
    def retry_later(self, *, at, error: str):
        """Stripe could not be reached; try again at ``at``."""
        self.next_attempt_at = at
        self.last_error = error[:500]

    @transition(field=status, source=RefundStatus.PENDING, target=RefundStatus.SUCCEEDED)
    def record_transfer(self, *, amount: int, reference: str, sent_on, now):
        """Finance sent the money by bank transfer: the real amount, its reference and date."""
        self.amount = amount
        self.reference = reference[:200]
        self.sent_on = sent_on
        self.completed_at = now
        self.next_attempt_at = None
        self.last_error = ""

    @transition(field=status, source=[RefundStatus.PENDING, RefundStatus.PROCESSING], target=RefundStatus.SUCCEEDED)
    def succeed(self, *, refund_id: str, now):
        self.stripe_refund_id = refund_id or self.stripe_refund_id
        self.completed_at = now
        self.next_attempt_at = None
        self.last_error = ""

    @transition(field=status, source=[RefundStatus.PENDING, RefundStatus.PROCESSING], target=RefundStatus.FAILED)
    def fail(self, *, error: str, now):
        self.last_error = error[:500]
        self.completed_at = now
        self.next_attempt_at = None


class AutoCheckout(models.Model):
    """Auto Checkout's schedule for one order: when to charge it next, how often it tried, and why it stopped.

    ``next_attempt_at`` is the timer column (DOMAIN.md R4, CONVENTIONS habit 6):
    the every-minute pass charges every due row, so a lost task only delays a
    charge. It is empty when nothing is scheduled: paid, given up, or not due.
    """

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="auto_checkout")
    seller = models.ForeignKey(Seller, on_delete=models.CASCADE, related_name="auto_checkouts")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Charges tried since Auto Checkout took the order."
    )
    last_payment = models.ForeignKey(Payment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=500, blank=True, help_text="Why the last charge did not go through.")
    gave_up_at = models.DateTimeField(
        null=True, blank=True, help_text="Auto Checkout stopped: retries used up or the bank wants the seller present."
    )
    timer_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"],
                name="autocheckout_next_attempt_idx",
                condition=Q(next_attempt_at__isnull=False),
            ),
            models.Index(fields=["seller", "gave_up_at"], name="autocheckout_seller_gaveup_idx"),
        ]

    def __str__(self):
        return f"Auto Checkout for {self.order}"


# What the seller's money history records (``PaymentEvent.action``), in words.
PAYMENT_ACTION_LABELS = {
    "payment_start": "Charge sent to the card",
    "payment_succeed": "Charge went through",
    "payment_fail": "Charge did not go through",
    "payment_require_action": "The bank asked the seller to confirm",
    "payment_record_refund": "Money refunded",
    "bank_transfer_recorded": "Bank transfer received",
    "refund_requested": "Refund asked for",
    "refund_owed": "Refund owed by bank transfer",
    "refund_start": "Refund sent to Stripe",
    "refund_retry_later": "Refund to be sent again",
    "refund_succeed": "Refund went through",
    "refund_fail": "Refund refused",
    "refund_record_transfer": "Refund sent by bank transfer",
    "refund_external": "Refunded at Stripe",
    "stripe_customer_created": "Stripe customer created",
    "card_added": "Card added",
    "card_removed": "Card removed",
    "card_default_set": "Default card changed",
    "auto_checkout_on": "Auto Checkout turned on",
    "auto_checkout_off": "Auto Checkout turned off",
    "auto_checkout_gave_up": "Auto Checkout stopped",
    "auto_checkout_waits": "Auto Checkout waits for an answer to a cancellation request",
    "auto_checkout_resumed": "Auto Checkout charges again",
}


class PaymentEvent(AuditEvent):
    """The seller's money history: cards, Auto Checkout switches, charges and refunds."""

    seller = models.ForeignKey(Seller, on_delete=models.CASCADE, related_name="payment_events")
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, null=True, blank=True, related_name="events")


# --- emails to sellers about checkout (R13) --------------------------------------------------------


class SellerEmailKind(models.TextChoices):
    CHECKOUT_REMINDER = "checkout_reminder", "New orders waiting for payment"
    CHECKOUT_DIGEST = "checkout_digest", "Daily list of orders waiting for payment"


class SellerEmailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Not needed any more"
    FAILED = "failed", "Failed"


class SellerEmail(ConcurrentTransitionMixin, models.Model):
    """One checkout email to a seller: an outbox row written by the pass that decides it, sent after commit.

    ``next_attempt_at`` is the timer column while ``pending``: the first send is
    a task enqueued on commit, and the timer sends again whatever is still due
    (the task was lost, or the mail server refused). ``claimed_at`` is set while
    a worker sends, so a duplicate task never sends the same email twice.
    What the email says is worked out when it is sent, so an order paid or
    cancelled meanwhile is not mentioned.
    """

    seller = models.ForeignKey(Seller, on_delete=models.CASCADE, related_name="checkout_emails")
    kind = models.CharField(max_length=24, choices=SellerEmailKind.choices)
    digest_date = models.DateField(null=True, blank=True, help_text="The day a digest is for (local time).")
    status = FSMField(
        max_length=16, choices=SellerEmailStatus.choices, default=SellerEmailStatus.PENDING, protected=True
    )
    recipient = models.CharField(max_length=254, blank=True, help_text="The address it went to.")
    subject = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Pending: (re)send at this time.")
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="A worker is sending it since.")
    last_error = models.CharField(max_length=500, blank=True)
    timer_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The daily digest goes out once per seller per day, however often the schedule runs.
            models.UniqueConstraint(
                fields=["seller", "digest_date"],
                condition=Q(kind="checkout_digest"),
                name="seller_email_one_digest_per_day",
            ),
            models.CheckConstraint(
                condition=Q(kind="checkout_digest", digest_date__isnull=False)
                | (~Q(kind="checkout_digest") & Q(digest_date__isnull=True)),
                name="seller_email_digest_has_date",
            ),
            # Pending ⇔ scheduled: a pending email without a time would never be sent.
            models.CheckConstraint(
                condition=Q(status="pending", next_attempt_at__isnull=False)
                | (~Q(status="pending") & Q(next_attempt_at__isnull=True)),
                name="seller_email_pending_is_scheduled",
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], name="seller_email_due_idx", condition=Q(status="pending")),
            models.Index(fields=["seller", "-created_at"], name="seller_email_seller_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display().lower()} to {self.seller.code} ({self.get_status_display().lower()})"

    @transition(field=status, source=SellerEmailStatus.PENDING, target=SellerEmailStatus.SENT)
    def mark_sent(self, *, at, recipient: str, subject: str):
        self.sent_at = at
        self.recipient = recipient[:254]
        self.subject = subject[:255]
        self.next_attempt_at = self.claimed_at = None
        self.last_error = ""

    @transition(field=status, source=SellerEmailStatus.PENDING, target=SellerEmailStatus.SKIPPED)
    def skip(self, *, why: str):
        """Nothing is left to tell: every order it was about got paid or cancelled."""
        self.next_attempt_at = self.claimed_at = None
        self.last_error = why[:500]

    @transition(field=status, source=SellerEmailStatus.PENDING, target=SellerEmailStatus.FAILED)
    def fail(self, *, error: str):
        """The mail server kept refusing; staff see it in the admin."""
        self.next_attempt_at = self.claimed_at = None
        self.last_error = error[:500]


class CheckoutReminder(models.Model):
    """An order that started waiting for its seller's payment by hand: to be mentioned in one reminder email.

    Written when the hold ends unpaid for a seller without Auto Checkout (R4,
    R13). ``due_at`` is the timer column: when one of a seller's rows is due,
    the reminders pass puts all of that seller's pending rows in one email and
    clears ``due_at``. The one-to-one on the order means an order is reminded once.
    """

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="checkout_reminder")
    seller = models.ForeignKey(Seller, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="Remind the seller at this time; empty once handled."
    )
    email = models.ForeignKey(
        SellerEmail,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="reminders",
        help_text="The email that mentioned the order (empty if it was paid or cancelled first).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["order_id"]
        indexes = [
            models.Index(fields=["due_at", "id"], name="checkout_reminder_due_idx", condition=Q(due_at__isnull=False)),
            models.Index(
                fields=["seller", "id"], name="checkout_reminder_pending_idx", condition=Q(due_at__isnull=False)
            ),
        ]

    def __str__(self):
        return f"checkout reminder for order {self.order_id}"
