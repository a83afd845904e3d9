"""Message catalogs: the same keys in every language, one formatting rule."""

from __future__ import annotations


class Catalog:
    """``t(lang, key, **values)``: the message for ``key`` in ``lang``, with values filled in."""

    def __init__(self, messages: dict[str, dict[str, str]]):
        self.messages = messages

    @property
    def langs(self) -> tuple[str, ...]:
        return tuple(self.messages)

    def __call__(self, lang: str, key: str, **values: object) -> str:
        text = self.messages[lang][key]
        return text.format(**values) if values else text
