"""Translation checks: a message two apps translate differently is reported (Django merges
the catalogues, so only one of the translations would ever be shown)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bankmall.core import i18n


def write_catalogue(app_dir: Path, messages: dict[tuple[str, str | None], str]) -> None:
    catalog = Catalog(locale="zh_Hans", domain="django")
    for (msgid, context), text in messages.items():
        catalog.add(msgid, text, context=context)
    path = app_dir / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    path.parent.mkdir(parents=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog)
    path.write_bytes(buffer.getvalue())


def test_one_word_translated_two_ways_by_two_apps_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_catalogue(tmp_path / "office", {("Name", None): "姓名", ("Name", "device"): "名称"})
    write_catalogue(tmp_path / "devices", {("Name", None): "名称", ("Added", None): "添加时间"})
    monkeypatch.setattr(i18n, "app_dirs", lambda: [tmp_path / "devices", tmp_path / "office"])

    problems = i18n._conflicts("zh_Hans")

    expected = (
        "zh_Hans: 'Name' is translated differently by devices '名称', office '姓名'; "
        "Django shows only one of them: use one translation or a context"
    )
    assert problems == [expected]


def test_the_same_word_in_another_context_is_no_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_catalogue(tmp_path / "office", {("Name", "person"): "姓名"})
    write_catalogue(tmp_path / "devices", {("Name", None): "名称"})
    monkeypatch.setattr(i18n, "app_dirs", lambda: [tmp_path / "devices", tmp_path / "office"])

    assert i18n._conflicts("zh_Hans") == []
