"""The console speaks Chinese first: every message id in its code and templates has a zh_CN
translation with the same placeholders, and the language follows the user's choice."""

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from web.i18n import LOCALE_DIR, translations

ROOT = Path(__file__).parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def message_ids() -> set[str]:
    method_map = [("web/**.py", "python"), ("web/templates/**.html", "jinja2")]
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found = extract_from_dir(str(ROOT), method_map, keywords=keywords)
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_every_message_has_a_chinese_translation_with_its_placeholders() -> None:
    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="zh_CN")
    translated = {m.id: m.string for m in catalog if m.id and m.string}
    ids = message_ids()
    assert len(ids) > 200
    missing = sorted(ids - set(translated))
    assert not missing, f"untranslated (run `make messages`, then translate): {missing}"
    for message_id in ids:
        ours = sorted(PLACEHOLDER.findall(message_id))
        theirs = sorted(PLACEHOLDER.findall(str(translated[message_id])))
        assert ours == theirs, f"{message_id!r} → {translated[message_id]!r}"


def test_the_catalogs_load_in_both_languages() -> None:
    assert translations("zh-CN").gettext("Dashboard") == "工作台"
    assert translations("en").gettext("Dashboard") == "Dashboard"
    assert translations("fr").gettext("Dashboard") == "工作台"  # unknown: the default language
