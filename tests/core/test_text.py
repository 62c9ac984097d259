"""The text rules (core.text): what each kind of text refuses, in schemas, forms and actions."""

from __future__ import annotations

import re
from typing import Final

import pytest
from django import forms
from ninja import Schema
from pydantic import Field, ValidationError

from bankmall.core.errors import InvalidInput
from bankmall.core.text import (
    MultiLineField,
    MultiLineText,
    SecretText,
    SingleLineField,
    SingleLineText,
    TextKind,
    require_text,
    text_problem,
    without_refused,
)
from bankmall.security.actions import create_staff, register_partner_application
from bankmall.security.approvals import propose
from bankmall.security.models import ApprovalRequest, PartnerApplication, User, UserKind
from tests.signed_in import make_user

SINGLE_LINE: Final = "Enter this on one line, without control characters."
MULTI_LINE: Final = "Enter this without control characters (line breaks and tabs are allowed)."
CONTROLS: Final = [chr(code) for code in range(0x20)] + ["\x7f"]


@pytest.mark.parametrize("character", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_single_line_text_refuses_every_c0_control_and_del(character: str) -> None:
    assert text_problem(f"a{character}b", TextKind.SINGLE_LINE) == SINGLE_LINE


@pytest.mark.parametrize("character", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_multi_line_text_refuses_every_control_but_line_breaks_and_tabs(character: str) -> None:
    problem = text_problem(f"a{character}b", TextKind.MULTI_LINE)

    assert problem == (None if character in "\n\r\t" else MULTI_LINE)


@pytest.mark.parametrize(
    ("value", "refused"),
    [("a\x00b", True), ("a\ud800b", True), ("a\tb\nc\x7f\x01", False)],
)
def test_secret_text_refuses_only_nul_and_lone_surrogates(value: str, refused: bool) -> None:
    assert (text_problem(value, TextKind.SECRET) is not None) is refused


@pytest.mark.parametrize("kind", list(TextKind))
def test_every_kind_refuses_a_lone_surrogate_and_accepts_other_unicode(kind: TextKind) -> None:
    assert text_problem("王芳 Ünïcödé 🏦", kind) is None
    assert text_problem("a\udcffb", kind) is not None


def test_without_refused_replaces_each_refused_character() -> None:
    assert without_refused("Mozilla\x00/5.0\n(X11)") == "Mozilla\ufffd/5.0\ufffd(X11)"


def test_require_text_names_every_refused_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        require_text({"name": "a\x00", "code": "ok", "key": "a\nb"})

    assert [(item.field, item.message) for item in raised.value.errors] == [
        ("name", SINGLE_LINE),
        ("key", SINGLE_LINE),
    ]


class _Body(Schema):
    name: SingleLineText = Field(max_length=10)
    note: MultiLineText = ""
    password: SecretText = ""
    reference: SingleLineText | None = None


def test_the_schema_types_refuse_with_the_rule_and_keep_the_field_constraints() -> None:
    with pytest.raises(ValidationError) as raised:
        _Body(name="a\x00b", note="one\r\ntwo\t\x01", password="p\x00", reference="x\ny")

    errors = {error["loc"][0]: (error["type"], error["msg"]) for error in raised.value.errors()}
    assert errors == {
        "name": ("control_characters", SINGLE_LINE),
        "note": ("control_characters", MULTI_LINE),
        "password": ("control_characters", "This contains a character that is not allowed."),
        "reference": ("control_characters", SINGLE_LINE),
    }
    assert _Body(name="王芳", note="one\r\ntwo\t", password="p\tw").note == "one\r\ntwo\t"


def test_the_schema_types_document_their_rule_as_a_pattern() -> None:
    properties = _Body.model_json_schema()["properties"]

    assert properties["name"]["maxLength"] == 10
    for name, sample, allowed in [
        ("name", "a\nb", False),
        ("note", "a\r\n\tb", True),
        ("note", "a\x00b", False),
        ("password", "a\x7f\nb", True),
        ("password", "a\x00b", False),
    ]:
        pattern = properties[name]["pattern"]
        assert (re.fullmatch(pattern, sample) is not None) is allowed, (name, sample)
    reference = properties["reference"]["anyOf"][0]
    assert reference["pattern"] == properties["name"]["pattern"]


class _Form(forms.Form):
    name = SingleLineField(max_length=20)
    note = MultiLineField(required=False, widget=forms.Textarea)


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"name": "a\x00b"}, {"name": [SINGLE_LINE]}),
        ({"name": "a\nb"}, {"name": [SINGLE_LINE]}),
        ({"name": "ok", "note": "a\x00b"}, {"note": [MULTI_LINE]}),
        ({"name": "ok", "note": "a\x1bb"}, {"note": [MULTI_LINE]}),
        ({"name": "ok", "note": "line\r\nline\ttab"}, {}),
    ],
)
def test_the_form_fields_give_one_message_per_refused_field(
    data: dict[str, str], errors: dict[str, list[str]]
) -> None:
    form = _Form(data)

    assert form.is_valid() is (not errors)
    assert form.errors == errors


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "email", "password", "field"),
    [
        ("teller\x00wang", "", "a-long-enough-passphrase", "username"),
        ("teller\twang", "", "a-long-enough-passphrase", "username"),
        ("teller.wang", "w@example.com\n", "a-long-enough-passphrase", "email"),
        ("teller.wang", "", "a-long-enough\x00passphrase", "password"),
    ],
)
def test_create_staff_refuses_control_characters_and_creates_nobody(
    username: str, email: str, password: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        create_staff(
            username=username,
            email=email,
            password=password,
            is_administrator=False,
            actor="test",
        )

    assert [item.field for item in raised.value.errors] == [field]
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reason", "parameters"),
    [
        ("cover\x00for leave", {"role": "auditor"}),
        ("cover for leave", {"role": "auditor\n"}),
    ],
)
def test_propose_refuses_control_characters_and_stores_nothing(
    reason: str, parameters: dict[str, str]
) -> None:
    maker = make_user("admin.one", kind=UserKind.STAFF, roles=("administrator",))
    target = make_user("teller.wu", kind=UserKind.STAFF, roles=("teller",))

    with pytest.raises(InvalidInput):
        propose(
            action_type="security.grant_role",
            parameters={"user_id": target.public_id, **parameters},
            reason=reason,
            maker=maker,
        )

    assert not ApprovalRequest.objects.exists()


@pytest.mark.django_db
def test_a_partner_application_with_a_control_character_is_not_registered() -> None:
    with pytest.raises(InvalidInput) as raised:
        register_partner_application(
            name="Fin\x00tech",
            redirect_uris=["https://partner.example/cb\n"],
            scopes=["accounts:read"],
            actor="test",
        )

    assert [item.field for item in raised.value.errors] == ["name", "redirect_uris"]
    assert not PartnerApplication.objects.exists()
