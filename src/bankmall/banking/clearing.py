"""Outgoing interbank payments: batch the day's ``awaiting_clearing`` transfers into pain.001.

Run by end of day (step ``banking.clearing_batch``): one ``ClearingBatch`` per business date
holding the file, and its transfers marked ``sent``, in one transaction. The money already sits
on the clearing account (``transfer`` moved it there), so no ledger posting happens here.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from django.conf import settings
from django.utils import timezone

from bankmall.banking.bank import bank_identity
from bankmall.banking.models import ClearingBatch, Transfer, TransferKind, TransferStatus
from bankmall.banking.payment_files import OutgoingPayment, PaymentBatch, render_pain001
from bankmall.core.audit import record_audit
from bankmall.core.eod import StepProgress, StepSummary
from bankmall.core.ids import new_id
from bankmall.core.money import Money
from bankmall.core.outbox import record_event

BATCH_MAX: Final = 10_000


def _payment(transfer: Transfer) -> OutgoingPayment:
    return OutgoingPayment(
        end_to_end_id=transfer.public_id,
        amount=Money(transfer.amount_minor, transfer.currency),
        execution_date=transfer.business_date,
        debtor_name=transfer.customer.legal_name or transfer.customer.public_id,
        debtor_account=transfer.from_account.number,
        creditor_name=transfer.to_name,
        creditor_account=transfer.to_account_number,
        creditor_bank_code=transfer.to_bank_code,
        remittance=transfer.reference,
    )


def send_clearing_batch(business_date: dt.date, progress: StepProgress) -> StepSummary:
    """Write the pain.001 for every interbank transfer awaiting clearing up to this date."""
    waiting = list(
        Transfer.objects.select_for_update()
        .select_related("customer", "from_account")
        .filter(
            kind=TransferKind.INTERBANK,
            status=TransferStatus.AWAITING_CLEARING,
            business_date__lte=business_date,
        )
        .order_by("pk")[:BATCH_MAX]
    )
    if not waiting:
        return {"transfers": 0}
    public_id = new_id("pbt")
    bank = bank_identity()
    # The bank's settlement account at the clearing house (configurable per installation).
    clearing_number = getattr(settings, "BANKING_CLEARING_ACCOUNT", f"CNAPS{bank.cnaps_code}")
    batch = PaymentBatch(
        message_id=public_id,
        created_at=timezone.now(),
        clearing_account=clearing_number,
        payments=tuple(_payment(transfer) for transfer in waiting),
    )
    document = render_pain001(batch, bank=bank)
    # After this point the operation must succeed.
    ClearingBatch.objects.create(
        public_id=public_id,
        business_date=business_date,
        transfer_count=len(waiting),
        control_sum=str(batch.control_sum),
        document=document,
        created_at=batch.created_at,
    )
    Transfer.objects.filter(pk__in=[t.pk for t in waiting]).update(
        status=TransferStatus.SENT, clearing_batch=public_id
    )
    record_audit(
        "banking.clearing_batch_sent",
        target=public_id,
        details={"transfers": len(waiting), "control_sum": str(batch.control_sum)},
        actor="eod",
    )
    record_event(
        "clearing.batch_sent",
        aggregate_id=public_id,
        payload={"transfer_ids": [t.public_id for t in waiting]},
    )
    progress(len(waiting), len(waiting))
    return {"transfers": len(waiting), "batch": public_id}
