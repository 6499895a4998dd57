"""The console's words: English message ids, translated by Babel catalogs (zh_CN is the default
language, en is available). Catalogs are read from their .po files at start-up, so there are no
compiled files to keep in step; `make messages` extracts new ids into them."""

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = {"zh-CN": "zh_CN", "en": "en"}
"""The languages offered, by the tag the console uses, with their catalog's locale."""


def N_(message: str) -> str:
    """Marks a message id for extraction where it is translated later (labels, menus)."""
    return message


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> Translations:
    locale = LANGUAGES.get(language, LANGUAGES[DEFAULT_LANGUAGE])
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)
