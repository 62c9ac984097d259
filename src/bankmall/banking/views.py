"""The net bank: the customer's own pages (overview, history, statements, transfers).

Views are thin: they resolve the signed-in customer, call one query or action, render. A
transfer is entered, confirmed on a second page (its order waits in the session under a random
token, which is also its idempotency key, so a double submit pays once) and, above the step-up
amount, confirmed again with a one-time code; then a receipt is shown.
"""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from typing import Any, Final

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from bankmall.banking import actions, queries, standing, statements
from bankmall.banking.api import CARD_LIMITS_STEP_UP, statement_response
from bankmall.banking.identifiers import ACCOUNT_NUMBER_LENGTH, BANK_CODE, is_account_number
from bankmall.banking.models import (
    Card,
    Channel,
    Customer,
    DepositAccount,
    Frequency,
    StandingOrder,
)
from bankmall.core.errors import BankmallError, NotFound
from bankmall.core.ids import is_valid_id
from bankmall.core.money import InexactAmount, Money
from bankmall.core.text import SingleLineField
from bankmall.security.access import acting_user, principal_view
from bankmall.security.errors import StepUpRequired
from bankmall.security.stepup import (
    credential_of,
    has_step_up,
    require_step_up,
    step_up_redirect,
)

PAGE_SIZE: Final = 20
PENDING_KEY: Final = "banking.pending_transfers"
PENDING_MAX: Final = 5
STEP_UP_PURPOSE: Final = "banking.transfer"
# What a customer reads for the failures they can cause (the API returns the problem codes).
FRIENDLY_ERRORS: Final = {
    "insufficient_funds": _("Insufficient funds: the account does not hold enough money."),
    "limit_exceeded": _("The amount is above your transfer limit for the net bank."),
    "account_not_active": _("The account is frozen or closed and cannot be used."),
    "account_frozen": _("The account is frozen and cannot be used."),
    "payee_account_invalid": _("The payee account cannot receive this transfer."),
}


def _customer(request: HttpRequest) -> Customer:
    customer = Customer.objects.filter(user=acting_user(request)).first()
    if customer is None:
        raise Http404("no accounts")
    return customer


def _account(customer: Customer, account_id: str) -> DepositAccount:
    try:
        return queries.access_account(customer, account_id)
    except NotFound:
        raise Http404(account_id) from None


@principal_view("customer")
def overview(request: HttpRequest) -> HttpResponse:
    """Every account with booked and available balance, and the latest activity."""
    customer = Customer.objects.filter(user=acting_user(request)).first()
    if customer is None:
        return render(request, "banking/overview.html", {"customer": None, "rows": []})
    rows = [
        {
            "account": account,
            "balance": queries.account_balance(account),
            "recent": queries.recent_entries(account, count=3),
        }
        for account in queries.customer_accounts(customer)
    ]
    return render(request, "banking/overview.html", {"customer": customer, "rows": rows})


def iso_date_input() -> forms.DateInput:
    """A browser date picker: HTML date inputs take ISO dates whatever the page language."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class StatementForm(forms.Form):
    period_start = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    period_end = forms.DateField(
        label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    statement_format = forms.ChoiceField(
        label=_("Format"),
        choices=[("pdf", "PDF"), ("csv", "CSV (Excel)"), ("camt053", "ISO 20022 camt.053")],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and start > end:
            raise forms.ValidationError(_("The period starts after it ends."))
        return data


# A search that starts like an entry's public id (``trf_``, ``cau_``, ``ent_``) looks for that id.
ENTRY_ID_SEARCH: Final = re.compile(r"^(trf|cau|ent)_", re.IGNORECASE)


def _search_history(
    entries: list[queries.AccountEntry], search: str
) -> tuple[list[queries.AccountEntry], str]:
    """The entries matching ``search`` and, for an id search that finds nothing, why.

    An id search is an exact match on the entry's public id (ids are lower case; a pasted
    upper-case id is accepted). Any other search matches the description or the
    counterparty's account number.
    """
    if not ENTRY_ID_SEARCH.match(search):
        needle = search.casefold()
        found = [
            e
            for e in entries
            if needle in e.description.casefold() or needle in e.counterparty_account
        ]
        return found, ""
    wanted = search.lower()
    if not queries.is_entry_id(wanted):
        problem = _(
            "“%(search)s” is not an entry id: an entry id is trf_, cau_ or ent_ followed by "
            "26 letters and digits."
        ) % {"search": search}
        return [], str(problem)
    found = [e for e in entries if e.id == wanted]
    if not found:
        return [], str(_("No entry of this account has the id %(id)s.") % {"id": wanted})
    return found, ""


@principal_view("customer")
def account_history(request: HttpRequest, account_id: str) -> HttpResponse:
    """The account's postings, newest first, searchable (by text or by entry id) and
    paginated; statement downloads."""
    customer = _customer(request)
    account = _account(customer, account_id)
    search = request.GET.get("q", "").strip()[:100]
    entries = [e for e in queries.all_entries(account) if e.kind in queries.POSTING_KINDS]
    search_problem = ""
    if search:
        entries, search_problem = _search_history(entries, search)
    entries.reverse()
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    today = actions.business_date()  # end of day may be ahead of the calendar
    statement_form = StatementForm(
        initial={
            "period_start": today.replace(day=1),
            "period_end": today,
            "statement_format": "pdf",
        }
    )
    context = {
        "account": account,
        "balance": queries.account_balance(account),
        "page": page,
        "search": search,
        "search_problem": search_problem,
        "statement_form": statement_form,
    }
    return render(request, "banking/account.html", context)


@principal_view("customer")
def statement_download(request: HttpRequest, account_id: str) -> HttpResponse:
    """The statement file for the chosen period and format."""
    customer = _customer(request)
    account = _account(customer, account_id)
    form = StatementForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "banking/statement_error.html",
            {"account": account, "form": form},
            status=422,
        )
    statement = queries.statement_for(
        account,
        start=form.cleaned_data["period_start"],
        end=form.cleaned_data["period_end"],
        owner_name=customer.legal_name,
    )
    language = request.LANGUAGE_CODE
    return statement_response(statement, form.cleaned_data["statement_format"], language=language)


class TransferForm(forms.Form):
    from_account = forms.ChoiceField(label=_("From account"))
    to_account_number = SingleLineField(label=_("Payee account number"), max_length=34)
    to_name = SingleLineField(label=_("Payee name"), max_length=140, required=False)
    to_bank_code = SingleLineField(
        label=_("Payee bank code (CNAPS or BIC, other banks only)"), max_length=12, required=False
    )
    amount = forms.DecimalField(
        label=_("Amount"), min_value=Decimal("0.01"), max_digits=17, decimal_places=2
    )
    reference = SingleLineField(label=_("Reference"), max_length=140, required=False)

    def __init__(self, *args: Any, accounts: list[DepositAccount], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accounts = {account.public_id: account for account in accounts}
        self.fields["from_account"] = forms.ChoiceField(
            label=_("From account"),
            choices=[
                (account.public_id, f"{account.get_product_display()} {account.number}")
                for account in accounts
            ],
        )


def _pending(request: HttpRequest) -> dict[str, dict[str, str]]:
    pending: dict[str, dict[str, str]] = request.session.get(PENDING_KEY, {})
    return pending


@principal_view("customer")
def transfer_new(request: HttpRequest) -> HttpResponse:
    """Enter a transfer; a valid form goes to the confirmation page."""
    customer = _customer(request)
    accounts = queries.customer_accounts(customer)
    initial = {}
    payee_id = request.GET.get("payee", "")
    if payee_id:
        try:
            payee = queries.access_payee(customer, payee_id)
        except NotFound:
            raise Http404(payee_id) from None
        initial = {
            "to_account_number": payee.account_number,
            "to_name": payee.name,
            "to_bank_code": payee.bank_code,
        }
    form = TransferForm(request.POST or None, accounts=accounts, initial=initial)
    if request.method == "POST" and form.is_valid():
        source = form.accounts[form.cleaned_data["from_account"]]
        amount = Money.from_decimal(form.cleaned_data["amount"], source.currency)
        token = secrets.token_urlsafe(16)
        pending = dict(list(_pending(request).items())[-(PENDING_MAX - 1) :])
        pending[token] = {
            "from_account": source.public_id,
            "to_account_number": form.cleaned_data["to_account_number"].strip(),
            "to_name": form.cleaned_data["to_name"].strip(),
            "to_bank_code": form.cleaned_data["to_bank_code"].strip().upper(),
            "amount_minor": str(amount.amount_minor),
            "currency": amount.currency,
            "reference": form.cleaned_data["reference"].strip(),
        }
        request.session[PENDING_KEY] = pending
        return HttpResponseRedirect(reverse("banking-transfer-confirm", args=[token]))
    return render(request, "banking/transfer_new.html", {"form": form})


def _order(saved: dict[str, str]) -> actions.TransferOrder:
    return actions.TransferOrder(
        from_account_id=saved["from_account"],
        to_account_number=saved["to_account_number"],
        amount=Money(int(saved["amount_minor"]), saved["currency"]),
        reference=saved["reference"],
        to_name=saved["to_name"],
        to_bank_code=saved["to_bank_code"],
    )


@principal_view("customer")
def transfer_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Show the order; on POST make it (asking for a one-time code above the step-up amount)."""
    customer = _customer(request)
    saved = _pending(request).get(token)
    if saved is None:
        raise Http404(token)
    order = _order(saved)
    source = _account(customer, order.from_account_id)
    needs_step_up = order.amount.amount_minor >= settings.BANKING_STEP_UP_AMOUNT_MINOR
    error = ""
    if request.method == "POST":
        try:
            if needs_step_up:
                require_step_up(request, STEP_UP_PURPOSE)
            made = actions.transfer(
                customer=customer,
                order=order,
                idempotency_key=f"web:{token}",
                channel=Channel.NET_BANK,
                actor=acting_user(request).public_id,
            )
        except StepUpRequired as challenge:
            return step_up_redirect(request, challenge)
        except BankmallError as failure:
            error = str(FRIENDLY_ERRORS.get(failure.code, failure.for_people()))
        else:
            return HttpResponseRedirect(reverse("banking-transfer-receipt", args=[made.public_id]))
    context = {
        "order": order,
        "source": source,
        "needs_step_up": needs_step_up,
        "error": error,
        "token": token,
    }
    return render(request, "banking/transfer_confirm.html", context, status=409 if error else 200)


@principal_view("customer")
def transfer_receipt(request: HttpRequest, transfer_id: str) -> HttpResponse:
    """The receipt of one of the customer's transfers."""
    customer = _customer(request)
    try:
        transfer = queries.access_transfer(customer, transfer_id)
    except NotFound:
        raise Http404(transfer_id) from None
    amount = Money(transfer.amount_minor, transfer.currency)
    context = {"transfer": transfer, "amount": amount, "formats": statements.FORMATS}
    return render(request, "banking/transfer_receipt.html", context)


class CardLimitForm(forms.Form):
    """New limits for one card, in its account's currency, checked as
    ``actions.set_card_limits`` checks them before a code is asked for (a mistake found after
    the code would waste it). ``limits()`` gives a valid form's amounts in minor units."""

    per_transaction = forms.DecimalField(
        label=_("Per purchase"), min_value=Decimal(0), max_digits=12, decimal_places=2
    )
    daily = forms.DecimalField(
        label=_("Per day"), min_value=Decimal(0), max_digits=12, decimal_places=2
    )

    def __init__(self, data: Any = None, *, card: Card) -> None:
        currency = card.account.currency
        initial = {
            "per_transaction": Money(card.per_transaction_limit_minor, currency).to_decimal(),
            "daily": Money(card.daily_limit_minor, currency).to_decimal(),
        }
        # Several cards share the page: each form's inputs get ids of their own.
        super().__init__(data, initial=initial, auto_id=f"id_{card.public_id}_%s")
        self.card = card

    def _minor(self, field: str, value: Decimal) -> int | None:
        try:
            return Money.from_decimal(value, self.card.account.currency).amount_minor
        except InexactAmount:
            self.add_error(field, _("The amount has more decimal places than the currency."))
            return None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("per_transaction") is None or data.get("daily") is None:
            return data  # the field's own message says what is wrong
        per = self._minor("per_transaction", data["per_transaction"])
        daily = self._minor("daily", data["daily"])
        if per is None or daily is None:
            return data
        if per > daily:
            self.add_error("per_transaction", _("The limit per purchase is above the daily limit."))
        elif daily > actions.CARD_LIMIT_MAX_MINOR:
            self.add_error("daily", _("The daily limit is above the bank's maximum."))
        else:
            data["limits"] = {"per_transaction_minor": per, "daily_minor": daily}
        return data

    def limits(self) -> dict[str, int]:
        limits: dict[str, int] = self.cleaned_data["limits"]
        return limits


CARD_LIMITS_DRAFT_KEY: Final = "banking.card_limits_draft"


def _card_rows(customer: Customer, refused: CardLimitForm | None = None) -> list[dict[str, Any]]:
    """One row per card with its limit form (``refused``: one card's form with its errors)."""
    return [
        {
            "card": card,
            "form": refused if refused and refused.card == card else CardLimitForm(card=card),
        }
        for card in Card.objects.filter(account__customer=customer)
        .select_related("account")
        .order_by("public_id")
    ]


@principal_view("customer")
def cards(request: HttpRequest) -> HttpResponse:
    """The customer's debit cards: freeze or unfreeze, change limits (with a one-time code)."""
    return render(request, "banking/cards.html", {"rows": _card_rows(_customer(request))})


def _card(customer: Customer, card_id: str) -> Card:
    try:
        return queries.access_card(customer, card_id)
    except NotFound:
        raise Http404(card_id) from None


@require_POST
@principal_view("customer")
def card_freeze(request: HttpRequest, card_id: str) -> HttpResponse:
    card = _card(_customer(request), card_id)
    try:
        actions.set_card_frozen(
            card=card,
            frozen=request.POST.get("frozen") == "1",
            actor=acting_user(request).public_id,
        )
    except BankmallError as error:
        messages.error(request, error.for_people())
    else:
        messages.success(request, _("Card updated."))
    return HttpResponseRedirect(reverse("banking-cards"))


def _confirmed_card_limits(request: HttpRequest, card: Card) -> dict[str, int] | None:
    """The limits entered for ``card`` before the code page, if the code was confirmed.

    The draft leaves the session whatever happens, so a cancelled or failed code page never
    loops and a draft is used at most once.
    """
    draft = request.session.pop(CARD_LIMITS_DRAFT_KEY, None)
    if not isinstance(draft, dict) or draft.get("card") != card.public_id:
        return None
    user, credential = acting_user(request), credential_of(request)
    if not has_step_up(user, credential=credential, purpose=CARD_LIMITS_STEP_UP):
        return None
    return {"per_transaction_minor": draft["per"], "daily_minor": draft["daily"]}


@require_http_methods(["GET", "POST"])
@principal_view("customer")
def card_limits(request: HttpRequest, card_id: str) -> HttpResponse:
    """Change a card's limits; needs a one-time code, as the API does (``banking.card_limits``).

    A POST with valid limits asks for the code first: the limits wait in the session and the
    code page comes back here with a GET, which saves them only once the code is confirmed.
    """
    customer = _customer(request)
    card = _card(customer, card_id)
    if request.method == "GET":
        limits = _confirmed_card_limits(request, card)
        if limits is None:
            messages.info(request, _("The card limits were not changed."))
            return HttpResponseRedirect(reverse("banking-cards"))
    else:
        form = CardLimitForm(request.POST, card=card)
        if not form.is_valid():
            context = {"rows": _card_rows(customer, refused=form)}
            return render(request, "banking/cards.html", context)
        limits = form.limits()
        try:
            require_step_up(request, CARD_LIMITS_STEP_UP)
        except StepUpRequired as challenge:
            request.session[CARD_LIMITS_DRAFT_KEY] = {
                "card": card.public_id,
                "per": limits["per_transaction_minor"],
                "daily": limits["daily_minor"],
            }
            return step_up_redirect(request, challenge)
    try:
        actions.set_card_limits(card=card, **limits, actor=acting_user(request).public_id)
    except BankmallError as error:
        messages.error(request, error.for_people())
    else:
        messages.success(request, _("Card limits changed."))
    return HttpResponseRedirect(reverse("banking-cards"))


BIC_PATTERN: Final = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
CNAPS_PATTERN: Final = re.compile(r"^\d{12}$")
EXTERNAL_NUMBER_PATTERN: Final = re.compile(r"^[A-Za-z0-9]{1,34}$")


class PayeeForm(forms.Form):
    """A payee, checked field by field before the one-time code is asked for.

    The checks are the ones ``actions.add_payee`` makes, said per field in the reader's
    language: a name; an account number of this bank with valid MOD 97-10 check digits (then
    no bank code is needed), or another bank's number with its bank's CNAPS code or BIC. The
    inputs carry the same rules as HTML constraints, so a browser points at a mistake before
    the form is sent.
    """

    name = SingleLineField(
        label=_("Payee name"),
        max_length=140,
        error_messages={"required": _("Enter the payee's name as their bank knows it.")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    account_number = SingleLineField(
        label=_("Payee account number"),
        max_length=40,
        error_messages={"required": _("Enter the payee's account number.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    bank_code = SingleLineField(
        label=_("Payee bank code (CNAPS or BIC, other banks only)"),
        max_length=12,
        required=False,
        help_text=_("12 digits (CNAPS) or a SWIFT BIC such as BKCHCNBJ; empty for our bank."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "pattern": r"[0-9]{12}|[A-Za-z]{6}[A-Za-z0-9]{2}([A-Za-z0-9]{3})?",
            }
        ),
    )

    def clean_name(self) -> str:
        name = " ".join(str(self.cleaned_data["name"]).split())
        if not name:
            raise forms.ValidationError(_("Enter the payee's name as their bank knows it."))
        return name

    def clean_account_number(self) -> str:
        number = "".join(str(self.cleaned_data["account_number"]).split())
        if (
            number.isdigit()
            and number.startswith(BANK_CODE)
            and len(number) == ACCOUNT_NUMBER_LENGTH
        ):
            if not is_account_number(number):
                raise forms.ValidationError(
                    _(
                        "The check digits of this account number do not match: "
                        "look for a mistyped or swapped digit."
                    )
                )
            return number
        if not EXTERNAL_NUMBER_PATTERN.match(number):
            raise forms.ValidationError(
                _("An account number has only digits and letters, at most 34.")
            )
        return number

    def clean_bank_code(self) -> str:
        code = "".join(str(self.cleaned_data["bank_code"]).split()).upper()
        if code and not (CNAPS_PATTERN.match(code) or BIC_PATTERN.match(code)):
            raise forms.ValidationError(
                _("A bank code is 12 digits (CNAPS) or a BIC of 8 or 11 letters and digits.")
            )
        return code

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        number, code = data.get("account_number"), data.get("bank_code")
        if number is None or code is None:
            return data  # the field's own message says what is wrong
        if is_account_number(number):
            data["bank_code"] = ""  # an account of this bank needs no bank code
        elif not code:
            self.add_error(
                "bank_code",
                _("This is not an account of our bank: enter the payee bank's code."),
            )
        return data


PAYEE_STEP_UP: Final = "banking.add_payee"
PAYEE_DRAFT_KEY: Final = "banking.payee_draft"


@principal_view("customer")
def payees(request: HttpRequest) -> HttpResponse:
    """Saved payees; adding one needs a one-time code (a new payee is a classic fraud path)."""
    customer = _customer(request)
    user = acting_user(request)
    # A payee entered before the one-time code waits in the session; it is used only once the
    # code is confirmed, and dropped otherwise (so cancelling the code page never loops).
    draft = request.session.pop(PAYEE_DRAFT_KEY, None) if request.method == "GET" else None
    confirmed = has_step_up(user, credential=credential_of(request), purpose=PAYEE_STEP_UP)
    data = request.POST if request.method == "POST" else (draft if confirmed else None)
    form = PayeeForm(data)
    if data is not None and form.is_valid():
        try:
            require_step_up(request, PAYEE_STEP_UP)
            actions.add_payee(
                customer=customer,
                name=form.cleaned_data["name"],
                account_number=form.cleaned_data["account_number"],
                bank_code=form.cleaned_data["bank_code"],
                actor=user.public_id,
            )
        except StepUpRequired as challenge:
            request.session[PAYEE_DRAFT_KEY] = form.cleaned_data
            return step_up_redirect(request, challenge)
        except BankmallError as error:
            messages.error(request, error.for_people())
        else:
            messages.success(request, _("Payee saved."))
        return HttpResponseRedirect(reverse("banking-payees"))
    saved = customer.payees.order_by("created_at")
    return render(request, "banking/payees.html", {"payees": saved, "form": form})


@require_POST
@principal_view("customer")
def payee_remove(request: HttpRequest, payee_id: str) -> HttpResponse:
    try:
        payee = queries.access_payee(_customer(request), payee_id)
    except NotFound:
        raise Http404(payee_id) from None
    actions.remove_payee(payee=payee, actor=acting_user(request).public_id)
    messages.success(request, _("Payee removed."))
    return HttpResponseRedirect(reverse("banking-payees"))


class StandingOrderForm(TransferForm):
    frequency = forms.ChoiceField(label=_("How often"), choices=Frequency.choices)
    first_date = forms.DateField(label=_("First date"), widget=iso_date_input())


@principal_view("customer")
def standing_orders(request: HttpRequest) -> HttpResponse:
    """Scheduled and standing orders: list, create (executed by end of day), cancel."""
    customer = _customer(request)
    accounts = queries.customer_accounts(customer)
    form = StandingOrderForm(request.POST or None, accounts=accounts)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        source = form.accounts[data["from_account"]]
        try:
            standing.create_standing_order(
                customer=customer,
                order=actions.TransferOrder(
                    from_account_id=source.public_id,
                    to_account_number=data["to_account_number"],
                    amount=Money.from_decimal(data["amount"], source.currency),
                    reference=data["reference"].strip(),
                    to_name=data["to_name"].strip(),
                    to_bank_code=data["to_bank_code"].strip().upper(),
                ),
                frequency=Frequency(data["frequency"]),
                first_date=data["first_date"],
                actor=acting_user(request).public_id,
            )
        except BankmallError as error:
            messages.error(request, error.for_people())
        else:
            messages.success(request, _("Order scheduled."))
            return HttpResponseRedirect(reverse("banking-standing"))
    orders = StandingOrder.objects.filter(customer=customer, is_active=True).order_by("next_date")
    return render(request, "banking/standing.html", {"orders": orders, "form": form})


@require_POST
@principal_view("customer")
def standing_cancel(request: HttpRequest, order_id: str) -> HttpResponse:
    customer = _customer(request)
    found = StandingOrder.objects.filter(public_id=order_id, customer=customer).first()
    if found is None or not is_valid_id("sto", order_id):
        raise Http404(order_id)
    try:
        standing.cancel_standing_order(standing=found, actor=acting_user(request).public_id)
    except BankmallError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Order cancelled."))
    return HttpResponseRedirect(reverse("banking-standing"))
