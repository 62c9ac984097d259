"""Debit cards: issued into the vault, frozen and limited by the holder in the net bank."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from stdnum import luhn

from bankmall.banking import actions
from bankmall.banking.models import Card, CardStatus
from bankmall.core.errors import Conflict
from bankmall.security.models import StepUpChallenge, VaultedCard
from bankmall.security.vault import reveal_card_number
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db


def test_a_card_number_is_in_the_bank_bin_and_only_in_the_vault(
    open_account: OpenAccount,
) -> None:
    card = actions.issue_card(account=open_account(), actor="test")
    number = reveal_card_number(card.vault_token, purpose="test", actor="test")
    assert number.startswith("629988")
    assert luhn.is_valid(number)
    assert number[-4:] == card.last_four
    assert VaultedCard.objects.count() == 1
    stored = [str(value) for value in Card.objects.values_list(flat=False).get()]
    assert number not in stored


def test_the_holder_freezes_unfreezes_and_limits_a_card(
    client: Client, open_account: OpenAccount
) -> None:
    user = make_user("holder")
    card = actions.issue_card(account=open_account(new_customer(user_id=user.pk)), actor="t")
    sign_in(client, user)
    assert card.last_four in client.get("/bank/cards/").content.decode()

    client.post(f"/bank/cards/{card.public_id}/freeze", {"frozen": "1"})
    assert Card.objects.get(pk=card.pk).status == CardStatus.FROZEN
    client.post(f"/bank/cards/{card.public_id}/freeze", {"frozen": "0"})
    assert Card.objects.get(pk=card.pk).status == CardStatus.ACTIVE

    client.post(f"/bank/cards/{card.public_id}/limits", {"per_transaction": "300", "daily": "100"})
    assert Card.objects.get(pk=card.pk).daily_limit_minor == 5_000_000  # refused: per > daily
    client.post(f"/bank/cards/{card.public_id}/limits", {"per_transaction": "100", "daily": "300"})
    StepUpChallenge.objects.filter(user=user).update(confirmed_at=timezone.now())
    client.get(f"/bank/cards/{card.public_id}/limits")
    assert Card.objects.get(pk=card.pk).daily_limit_minor == 30_000


def test_a_card_blocked_by_the_bank_cannot_be_unfrozen_by_the_holder(
    open_account: OpenAccount,
) -> None:
    card = actions.issue_card(account=open_account(), actor="test")
    Card.objects.filter(pk=card.pk).update(status=CardStatus.BLOCKED)
    with pytest.raises(Conflict, match="blocked"):
        actions.set_card_frozen(card=card, frozen=False, actor="test")
    assert Card.objects.get(pk=card.pk).status == CardStatus.BLOCKED


def test_another_customers_card_is_not_found(client: Client, open_account: OpenAccount) -> None:
    card = actions.issue_card(account=open_account(), actor="test")
    user = make_user("other")
    open_account(new_customer(user_id=user.pk))
    sign_in(client, user)
    response = client.post(f"/bank/cards/{card.public_id}/freeze", {"frozen": "1"})
    assert response.status_code == 404
    assert Card.objects.get(pk=card.pk).status == CardStatus.ACTIVE
