"""The forms behind the return page's buttons: answer, receive and inspect line by line, decide the refund,
replace, reject after inspection, close. Each only checks its input; the services decide the rest."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings

from returns.models import ReturnLine, ReturnRequest, ReturnStatus


def _note(label: str = "note", *, required: bool = False, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=500,
        required=required,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class ApproveForm(forms.Form):
    note = _note(help_text="Optional; kept in the return's history and passed on to the marketplace.")


class RejectForm(forms.Form):
    reason = _note("reason", required=True, help_text="Required. Passed on to the marketplace, which tells the buyer.")


class LineForm(forms.Form):
    """A form with fields per return line; ``rows()`` pairs each line with its fields for the table."""

    line_fields: tuple[str, ...] = ()

    def __init__(self, *args, lines: list[ReturnLine], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            for name in self.line_fields:
                self.fields[self.key(name, line)] = self.make_field(name, line)

    @staticmethod
    def key(name: str, line: ReturnLine) -> str:
        return f"{name}_{line.pk}"

    def make_field(self, name: str, line: ReturnLine) -> forms.Field:
        raise NotImplementedError

    def rows(self):
        return [(line, [self[self.key(name, line)] for name in self.line_fields]) for line in self.lines]

    def other_fields(self):
        line_keys = {self.key(name, line) for line in self.lines for name in self.line_fields}
        return [self[name] for name in self.fields if name not in line_keys]

    def per_line(self, name: str) -> dict[int, int]:
        return {line.pk: self.cleaned_data[self.key(name, line)] for line in self.lines}


class ReceiveForm(LineForm):
    """Units found in the parcel, per line (0 to what the buyer returns)."""

    line_fields = ("received",)
    line_headers = ("Received",)
    note = _note(help_text="Optional, e.g. the state of the box.")

    def make_field(self, name, line):
        return forms.IntegerField(
            label=f"{line.order_line.sku_code} received",
            min_value=0,
            max_value=line.quantity,
            initial=line.quantity,
            widget=forms.NumberInput(attrs={"style": "width:6em"}),
        )

    def received(self) -> dict[int, int]:
        return self.per_line("received")


class InspectForm(LineForm):
    """Every received unit is resellable (back into stock) or damaged (not)."""

    line_fields = ("resellable", "damaged")
    line_headers = ("Resellable (back into stock)", "Damaged")
    note = _note(help_text="Optional; kept with the inspection.")

    def make_field(self, name, line):
        received = line.received_quantity or 0
        return forms.IntegerField(
            label=f"{line.order_line.sku_code} {name}",
            min_value=0,
            max_value=received,
            initial=received if name == "resellable" else 0,
            widget=forms.NumberInput(attrs={"style": "width:6em"}),
        )

    def clean(self):
        data = super().clean()
        for line in self.lines:
            resellable, damaged = data.get(self.key("resellable", line)), data.get(self.key("damaged", line))
            if resellable is not None and damaged is not None and resellable + damaged != (line.received_quantity or 0):
                self.add_error(
                    self.key("resellable", line),
                    f"{line.order_line.sku_code}: resellable + damaged must be the {line.received_quantity or 0} "
                    "received.",
                )
        return data

    def results(self) -> dict[int, tuple[int, int]]:
        return {
            line.pk: (self.cleaned_data[self.key("resellable", line)], self.cleaned_data[self.key("damaged", line)])
            for line in self.lines
        }


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=f"amount ({settings.CURRENCY})",
        min_value=Decimal("0"),
        max_digits=9,
        decimal_places=2,
        help_text="What the seller gets back of the wholesale cost. 0 records that nothing is refunded.",
    )
    note = _note(help_text="Optional; why this amount (kept in the return's history).")

    def amount_minor_units(self) -> int:
        return int(self.cleaned_data["amount"].scaleb(2))


class ReplaceForm(forms.Form):
    note = _note(help_text="Optional; kept in the return's history.")


class RejectAfterInspectionForm(forms.Form):
    reason = _note(
        "reason",
        required=True,
        help_text="Required, e.g. “wrong item sent back”. Passed on to the marketplace, which tells the buyer.",
    )


class CloseForm(forms.Form):
    note = _note(help_text="Required when the buyer never sent the parcel back; optional otherwise.")

    def __init__(self, *args, ret: ReturnRequest, **kwargs):
        super().__init__(*args, **kwargs)
        if ret.status == ReturnStatus.AWAITING_RETURN_SHIPMENT:
            self.fields["note"].required = True
