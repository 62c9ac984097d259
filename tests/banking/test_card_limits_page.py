"""Card limits on the net-bank page need a one-time code, as the API does."""

from __future__ import annotations

import pytest
from django.test import Client

from bankmall.banking import actions
from bankmall.banking.models import Card
from bankmall.core.models import AuditRecord
from bankmall.security.models import StepUpChallenge, User
from tests.banking.conftest import OpenAccount, new_customer
from tests.signed_in import current_code, make_user, sign_in

pytestmark = pytest.mark.django_db
NEW_LIMITS = {"per_transaction": "100.00", "daily": "300.00"}
DEFAULT_LIMITS = (2_000_000, 5_000_000)


def limits_of(card: Card) -> tuple[int, int]:
    stored = Card.objects.get(pk=card.pk)
    return stored.per_transaction_limit_minor, stored.daily_limit_minor


def limit_changes() -> int:
    return AuditRecord.objects.filter(action="banking.card_limits_changed").count()


def holder_with_card(client: Client, open_account: OpenAccount) -> tuple[User, Card]:
    user = make_user("holder")
    card = actions.issue_card(account=open_account(new_customer(user_id=user.pk)), actor="t")
    sign_in(client, user)
    return user, card


def test_new_limits_wait_for_the_code_then_are_saved_and_audited(
    client: Client, open_account: OpenAccount
) -> None:
    user, card = holder_with_card(client, open_account)
    limits_url = f"/bank/cards/{card.public_id}/limits"

    asked = client.post(limits_url, NEW_LIMITS)

    assert asked.status_code == 302
    assert asked["Location"].startswith("/security/step-up/")
    assert limits_of(card) == DEFAULT_LIMITS
    assert StepUpChallenge.objects.get(user=user).purpose == "banking.card_limits"

    confirmed = client.post(asked["Location"], {"code": current_code(user)})
    assert confirmed["Location"] == limits_url
    saved = client.get(limits_url, follow=True)

    assert limits_of(card) == (10_000, 30_000)
    assert limit_changes() == 1
    assert AuditRecord.objects.get(action="banking.card_limits_changed").target == card.public_id
    assert "Card limits changed." in saved.content.decode()


def test_a_wrong_code_says_so_and_changes_no_limit(
    client: Client, open_account: OpenAccount
) -> None:
    user, card = holder_with_card(client, open_account)
    limits_url = f"/bank/cards/{card.public_id}/limits"
    asked = client.post(limits_url, NEW_LIMITS)

    wrong = client.post(asked["Location"], {"code": "000000"})
    back = client.get(limits_url, follow=True)  # what the code page's Cancel does

    assert wrong.status_code == 200
    assert "That code is not correct. Check the app and try again." in wrong.content.decode()
    assert "The card limits were not changed." in back.content.decode()
    assert limits_of(card) == DEFAULT_LIMITS
    assert limit_changes() == 0
    assert StepUpChallenge.objects.get(user=user).confirmed_at is None


def test_the_wrong_code_message_is_in_chinese_on_a_chinese_page(
    client: Client, open_account: OpenAccount
) -> None:
    _, card = holder_with_card(client, open_account)
    asked = client.post(f"/bank/cards/{card.public_id}/limits", NEW_LIMITS)

    wrong = client.post(asked["Location"], {"code": "000000"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = client.get("/bank/cards/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "验证码不正确" in wrong.content.decode()
    assert "更改银行卡限额需要" in page
    assert limits_of(card) == DEFAULT_LIMITS


def test_another_customers_card_is_not_found_and_keeps_its_limits(
    client: Client, open_account: OpenAccount
) -> None:
    card = actions.issue_card(account=open_account(), actor="test")
    user = make_user("other")
    open_account(new_customer(user_id=user.pk))
    sign_in(client, user)
    limits_url = f"/bank/cards/{card.public_id}/limits"

    posted = client.post(limits_url, NEW_LIMITS)
    fetched = client.get(limits_url)

    assert (posted.status_code, fetched.status_code) == (404, 404)
    assert limits_of(card) == DEFAULT_LIMITS
    assert not StepUpChallenge.objects.filter(user=user).exists()
    assert limit_changes() == 0


def test_a_confirmed_code_for_one_card_does_not_carry_its_limits_to_another(
    client: Client, open_account: OpenAccount
) -> None:
    user, card = holder_with_card(client, open_account)
    other_card = actions.issue_card(account=card.account, actor="t")
    asked = client.post(f"/bank/cards/{card.public_id}/limits", NEW_LIMITS)
    client.post(asked["Location"], {"code": current_code(user)})

    client.get(f"/bank/cards/{other_card.public_id}/limits")
    client.get(f"/bank/cards/{card.public_id}/limits")  # the draft was used up

    assert limits_of(card) == DEFAULT_LIMITS
    assert limits_of(other_card) == DEFAULT_LIMITS
    assert limit_changes() == 0


def test_a_post_without_the_csrf_token_is_refused(open_account: OpenAccount) -> None:
    client = Client(enforce_csrf_checks=True)
    _, card = holder_with_card(client, open_account)

    response = client.post(f"/bank/cards/{card.public_id}/limits", NEW_LIMITS)

    assert response.status_code == 403
    assert limits_of(card) == DEFAULT_LIMITS
    assert not StepUpChallenge.objects.exists()


@pytest.mark.parametrize(
    ("entered", "message"),
    [
        ({"per_transaction": "400.00", "daily": "300.00"}, "above the daily limit"),
        ({"per_transaction": "1.00", "daily": "1000000.01"}, "above the bank&#x27;s maximum"),
        ({"per_transaction": "", "daily": "300.00"}, "This field is required."),
    ],
)
def test_a_mistake_is_shown_at_the_field_before_any_code_is_asked(
    client: Client, open_account: OpenAccount, entered: dict[str, str], message: str
) -> None:
    user, card = holder_with_card(client, open_account)

    response = client.post(f"/bank/cards/{card.public_id}/limits", entered)

    text = response.content.decode()
    assert response.status_code == 200
    assert message in text
    assert 'class="field-error"' in text
    assert not StepUpChallenge.objects.filter(user=user).exists()
    assert limits_of(card) == DEFAULT_LIMITS
