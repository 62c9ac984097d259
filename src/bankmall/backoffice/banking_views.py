"""Back-office pages of core banking: customer search, KYC queue, account operations.

Personal data is shown masked. Freezing, limit changes and large teller cash operations are
proposed for maker-checker approval (``bankmall.banking.approval_actions``); small cash
operations are booked at once. Every change goes through an action in ``bankmall.banking``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from django import forms
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankmall.banking import actions, queries
from bankmall.banking.errors import PaymentFileInvalid
from bankmall.banking.identifiers import is_account_number
from bankmall.banking.models import Channel, ClearingBatch, Customer, DepositAccount, KycStatus
from bankmall.banking.payment_files import (
    FILE_FIELD,
    LINE_FIELD_PREFIX,
    SCHEMA_MESSAGE_PREFIX,
    IncomingFile,
    parse_incoming,
)
from bankmall.core.errors import BankmallError, FieldError
from bankmall.core.ids import is_valid_id
from bankmall.core.money import Money
from bankmall.core.text import MultiLineField, SingleLineField
from bankmall.security.access import acting_user, staff_view
from bankmall.security.approvals import needs_approval, propose
from bankmall.security.crypto import search_hash
from bankmall.security.models import User

RESULTS_MAX: Final = 50
QUERY_LENGTH_MAX: Final = 140


def search_customers(query: str) -> list[Customer]:
    """By account number, exact ID number or exact legal name (the last two by blind index)."""
    text = query.strip()[:QUERY_LENGTH_MAX]
    if not text:
        return []
    compact = "".join(text.split())
    if is_account_number(compact):
        return list(Customer.objects.filter(accounts__number=compact)[:RESULTS_MAX])
    by_id = Customer.objects.filter(
        national_id_index=search_hash(Customer, "national_id_index", compact.upper())
    )
    by_name = Customer.objects.filter(
        legal_name_index=search_hash(Customer, "legal_name_index", text)
    )
    return list((by_id | by_name).order_by("pk")[:RESULTS_MAX])


@require_GET
@staff_view("security.access_backoffice")
def customers(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    context = {"query": query, "results": search_customers(query) if query else None}
    return render(request, "backoffice/banking/customers.html", context)


def _customer(customer_id: str) -> Customer:
    customer = None
    if is_valid_id("cus", customer_id):
        customer = Customer.objects.filter(public_id=customer_id).first()
    if customer is None:
        raise Http404(customer_id)
    return customer


@require_GET
@staff_view("security.access_backoffice")
def customer_detail(request: HttpRequest, customer_id: str) -> HttpResponse:
    customer = _customer(customer_id)
    rows = [
        {
            "account": account,
            "balance": queries.account_balance(account),
            "limits": list(account.limits.order_by("channel")),
        }
        for account in queries.customer_accounts(customer)
    ]
    context = {
        "customer": customer,
        "rows": rows,
        "cash_form": CashForm(),
        "limit_form": LimitForm(),
        "channels": Channel.choices,
    }
    return render(request, "backoffice/banking/customer.html", context)


RECENT_REVIEWS: Final = 20


def _reviewer_names(customers: list[Customer]) -> dict[str, str]:
    """Actor (``usr_…`` public id) → username, for the reviewers of ``customers``."""
    actors = {customer.kyc_reviewed_by for customer in customers if customer.kyc_reviewed_by}
    users = User.objects.filter(public_id__in=actors).values_list("public_id", "username")
    return dict(users)


@require_GET
@staff_view("security.review_kyc")
def kyc_queue(request: HttpRequest) -> HttpResponse:
    """Customers waiting for review (oldest first) and the latest decisions with their reasons."""
    pending = Customer.objects.filter(kyc_status=KycStatus.PENDING).order_by("created_at")
    decided = list(
        Customer.objects.filter(kyc_reviewed_at__isnull=False).order_by("-kyc_reviewed_at")[
            :RECENT_REVIEWS
        ]
    )
    names = _reviewer_names(decided)
    context = {
        "customers": pending[:RESULTS_MAX],
        "decided": [(customer, names.get(customer.kyc_reviewed_by, "")) for customer in decided],
    }
    return render(request, "backoffice/banking/kyc.html", context)


class KycDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        choices=[("verify", gettext_lazy("Verify")), ("reject", gettext_lazy("Reject"))],
        widget=forms.HiddenInput,
    )
    note = MultiLineField(
        label=gettext_lazy("Reason"),
        required=False,
        max_length=actions.KYC_NOTE_LENGTH_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "note" not in data:
            return data  # refused by its field already (a control character)
        note = data["note"].strip()
        if data.get("decision") == "reject" and len(note) < actions.KYC_NOTE_LENGTH_MIN:
            self.add_error(
                "note",
                gettext_lazy("Say why the customer is rejected (at least 5 characters)."),
            )
        return data


@require_http_methods(["GET", "POST"])
@staff_view("security.review_kyc")
def kyc_decide(request: HttpRequest, customer_id: str) -> HttpResponse:
    """Confirm a KYC decision: GET shows the customer and asks; POST records it.

    Verifying asks for confirmation; rejecting also asks for the reason, which is stored,
    audited and shown in the list of recent decisions.
    """
    customer = _customer(customer_id)
    if request.method == "POST":
        form = KycDecisionForm(request.POST)
    else:
        form = KycDecisionForm(initial={"decision": request.GET.get("decision", "verify")})
    if request.method == "POST" and form.is_valid():
        try:
            actions.review_kyc(
                customer=customer,
                approve=form.cleaned_data["decision"] == "verify",
                note=form.cleaned_data["note"],
                actor=acting_user(request).public_id,
            )
        except BankmallError as error:
            messages.error(request, error.for_people())
        else:
            messages.success(request, _("KYC review recorded."))
        return redirect("backoffice-banking-kyc")
    decision = form["decision"].value()
    context = {
        "customer": customer,
        "form": form,
        "is_reject": decision == "reject",
        "is_pending": customer.kyc_status == KycStatus.PENDING,
    }
    status = 422 if request.method == "POST" else 200
    return render(request, "backoffice/banking/kyc_decide.html", context, status=status)


def _account(account_id: str) -> DepositAccount:
    account = None
    if is_valid_id("acc", account_id):
        account = (
            DepositAccount.objects.select_related("customer").filter(public_id=account_id).first()
        )
    if account is None:
        raise Http404(account_id)
    return account


def _propose(request: HttpRequest, action_type: str, parameters: dict[str, object]) -> str:
    created = propose(
        action_type=action_type,
        parameters=parameters,
        reason=request.POST.get("reason", ""),
        maker=acting_user(request),
    )
    messages.success(request, _("Proposed. Another member of staff must approve it."))
    return created.public_id


@require_POST
@staff_view("security.teller_operations")
def account_status(request: HttpRequest, account_id: str) -> HttpResponse:
    """Propose freezing or unfreezing the account."""
    account = _account(account_id)
    try:
        _propose(
            request,
            "banking.set_account_status",
            {
                "account_id": account.public_id,
                "status": request.POST.get("status", ""),
                "reason": request.POST.get("reason", "")[:200],
            },
        )
    except BankmallError as error:
        messages.error(request, error.for_people())
    return redirect("backoffice-banking-customer", customer_id=account.customer.public_id)


class LimitForm(forms.Form):
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), choices=Channel.choices)
    per_transaction = forms.DecimalField(
        label=gettext_lazy("Per transaction"), min_value=Decimal(0), decimal_places=2
    )
    daily = forms.DecimalField(
        label=gettext_lazy("Per day"), min_value=Decimal(0), decimal_places=2
    )
    reason = SingleLineField(label=gettext_lazy("Reason"), min_length=5, max_length=200)


@require_POST
@staff_view("security.teller_operations")
def account_limit(request: HttpRequest, account_id: str) -> HttpResponse:
    """Propose new limits for one channel of the account."""
    account = _account(account_id)
    form = LimitForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Fill in every field."))
    else:
        data = form.cleaned_data
        parameters: dict[str, object] = {
            "account_id": account.public_id,
            "channel": data["channel"],
            "per_transaction_minor": Money.from_decimal(
                data["per_transaction"], account.currency
            ).amount_minor,
            "daily_minor": Money.from_decimal(data["daily"], account.currency).amount_minor,
        }
        try:
            _propose(request, "banking.set_account_limit", parameters)
        except BankmallError as error:
            messages.error(request, error.for_people())
    return redirect("backoffice-banking-customer", customer_id=account.customer.public_id)


class CashForm(forms.Form):
    """Cash at the counter. With ``account`` the amount is checked for its currency: positive,
    no more decimal places than the currency has, at most the ledger's maximum."""

    direction = forms.ChoiceField(
        label=gettext_lazy("Operation"),
        choices=[
            ("deposit", gettext_lazy("Cash deposit")),
            ("withdrawal", gettext_lazy("Cash withdrawal")),
        ],
    )
    amount = forms.DecimalField(label=gettext_lazy("Amount"), max_digits=19)
    reference = SingleLineField(label=gettext_lazy("Slip number"), max_length=64)
    reason = SingleLineField(label=gettext_lazy("Note"), min_length=5, max_length=200)

    def __init__(self, *args: Any, account: DepositAccount | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_amount(self) -> Money | Decimal:
        value: Decimal = self.cleaned_data["amount"]
        if self.account is None:
            return value
        try:
            return actions.cash_amount(self.account, value)
        except BankmallError as error:
            raise forms.ValidationError(error.detail) from None


@require_POST
@staff_view("security.teller_operations")
def teller_cash(request: HttpRequest, account_id: str) -> HttpResponse:
    """Book cash at the counter, or propose it for approval above the threshold."""
    account = _account(account_id)
    form = CashForm(request.POST, account=account)
    if not form.is_valid():
        for problems in form.errors.values():
            for problem in problems:
                messages.error(request, str(problem))
        return redirect("backoffice-banking-customer", customer_id=account.customer.public_id)
    data = form.cleaned_data
    amount: Money = data["amount"]
    parameters: dict[str, object] = {
        "account_id": account.public_id,
        "amount_minor": amount.amount_minor,
        "is_deposit": data["direction"] == "deposit",
        "reference": data["reference"].strip(),
    }
    try:
        if needs_approval("banking.teller_cash", parameters):
            _propose(request, "banking.teller_cash", parameters)
        else:
            actions.teller_cash(
                account=account,
                amount=amount,
                is_deposit=bool(parameters["is_deposit"]),
                reference=str(parameters["reference"]),
                actor=acting_user(request).public_id,
            )
            messages.success(request, _("Cash booked."))
    except BankmallError as error:
        messages.error(request, error.for_people())
    return redirect("backoffice-banking-customer", customer_id=account.customer.public_id)


# ------------------------------------------------------------------ clearing files

MIB: Final = 1024 * 1024
INCOMING_BYTES_MAX: Final = 20 * MIB


class IncomingFileForm(forms.Form):
    document = forms.FileField(label=gettext_lazy("camt.054 or pain.001 file"))


@staff_view("security.settle_payments")
def clearing(request: HttpRequest) -> HttpResponse:
    """Outgoing pain.001 batches to download; an incoming camt.054/pain.001 file to book."""
    form = IncomingFileForm(request.POST or None, request.FILES or None)
    problems: list[FieldError] = []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["document"]
        try:
            parsed = _read_incoming(upload)
            result = actions.book_incoming(parsed, actor=acting_user(request).public_id)
        except PaymentFileInvalid as error:
            problems = _shown_problems(error.errors)
            messages.error(request, _refused_file_message(error))
        except BankmallError as error:
            messages.error(request, error.for_people())
            problems = list(error.errors)
        else:
            messages.success(
                request,
                _("Booked %(booked)s credits; %(suspense)s to suspense.")
                % {"booked": result.booked, "suspense": result.to_suspense},
            )
            return redirect("backoffice-banking-clearing")
    batches = list(ClearingBatch.objects.order_by("-created_at")[:RESULTS_MAX])
    totals = queries.clearing_batch_totals([batch.public_id for batch in batches])
    rows = [{"batch": batch, "totals": totals[batch.public_id]} for batch in batches]
    context = {"form": form, "rows": rows, "problems": problems}
    return render(request, "backoffice/banking/clearing.html", context)


def _read_incoming(upload: UploadedFile) -> IncomingFile:
    if upload.size is not None and upload.size > INCOMING_BYTES_MAX:
        message = _("The file is larger than %(size)d MiB.") % {"size": INCOMING_BYTES_MAX // MIB}
        raise PaymentFileInvalid(message, errors=[FieldError(FILE_FIELD, message)])
    return parse_incoming(upload.read())


def _refused_file_message(error: PaymentFileInvalid) -> str:
    """The page's headline for a refused file, in the page's language."""
    if not error.errors:
        return error.for_people()
    count = len(error.errors)
    return ngettext(
        "Nothing was booked: the file has %(count)d problem, listed below.",
        "Nothing was booked: the file has %(count)d problems, listed below.",
        count,
    ) % {"count": count}


def _shown_problems(errors: list[FieldError]) -> list[FieldError]:
    """A refused file's problems with the whole file's label and a schema problem's line and
    label in the page's language (the schema validator's own words stay English, like the
    element names and paths they quote)."""
    shown = []
    for error in errors:
        if error.field == FILE_FIELD:
            shown.append(FieldError(_("file"), error.message))
            continue
        if not error.field.startswith(LINE_FIELD_PREFIX):
            shown.append(error)
            continue
        line = error.field.removeprefix(LINE_FIELD_PREFIX)
        detail = error.message.removeprefix(SCHEMA_MESSAGE_PREFIX)
        shown.append(
            FieldError(
                _("line %(line)s") % {"line": line},
                _("Schema: %(detail)s") % {"detail": detail},
            )
        )
    return shown


@require_GET
@staff_view("security.settle_payments")
def clearing_file(request: HttpRequest, batch_id: str) -> HttpResponse:
    batch = None
    if is_valid_id("pbt", batch_id):
        batch = ClearingBatch.objects.filter(public_id=batch_id).first()
    if batch is None:
        raise Http404(batch_id)
    response = HttpResponse(bytes(batch.document), content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="pain001-{batch.public_id}.xml"'
    return response
