"""Every control on every page a tenant reaches has an accessible name, and the page a title."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

PAGES_SIGNED_OUT = ["/login", "/signup", "/reset-password", "/billing/upgrade",
                    "/billing/enterprise"]
PAGES_SIGNED_IN = ["/", "/usage", "/keys", "/billing/", "/billing/upgrade",
                   "/billing/upgrade?interval=year", "/billing/enterprise"]
UNNAMED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class Controls(HTMLParser):
    """Collects form controls, <progress> bars, labels and whether a control sits in a label."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_targets: set[str] = set()
        self.label_depth = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self.label_depth += 1
            if found.get("for"):
                self.label_targets.add(found["for"] or "")
        elif tag == "title":
            self._in_title = True
        elif tag in {"input", "select", "textarea", "progress", "meter"}:
            if tag == "input" and (found.get("type") or "text") in UNNAMED_TYPES:
                return
            self.controls.append({**found, "tag": tag, "wrapped": "1" if self.label_depth else ""})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.label_depth = max(self.label_depth - 1, 0)
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def unnamed(self) -> list[str]:
        return [
            f"<{c['tag']} name={c.get('name')!r} id={c.get('id')!r}>"
            for c in self.controls
            if not (c["wrapped"] or c.get("aria-label") or c.get("aria-labelledby")
                    or (c.get("id") and c["id"] in self.label_targets))
        ]


def check(html: str, path: str) -> None:
    parser = Controls()
    parser.feed(html)
    assert parser.title.strip(), f"{path} has no <title>"
    assert '<html lang="' in html, f"{path} does not declare its language"
    assert not parser.unnamed(), f"{path}: controls without a label: {parser.unnamed()}"


@pytest.mark.parametrize("path", PAGES_SIGNED_OUT)
def test_signed_out_pages_label_every_control(client, path):
    response = client.get(path)
    assert response.status_code == 200
    check(response.get_data(as_text=True), path)


def test_signed_in_pages_label_every_control(client, factory):
    factory.account().sign_in(client)
    for path in PAGES_SIGNED_IN:
        response = client.get(path)
        assert response.status_code == 200, path
        check(response.get_data(as_text=True), path)


def test_the_checker_finds_an_unlabelled_control():
    with pytest.raises(AssertionError, match="controls without a label"):
        check('<html lang="en"><title>x</title><input name="email"><progress value="1">',
              "/example")
