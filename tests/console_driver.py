"""Use the web console as a browser would, without one: sign in through the form, keep the
session cookie, post forms with the page's CSRF token."""

import re
from typing import Any

import httpx
from fastapi import FastAPI

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Console:
    def __init__(self, app: FastAPI, language: str = "zh-CN") -> None:
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://gridloop.test",
            headers={"Accept-Language": language},
        )
        self.token = ""

    async def sign_in(self, username: str, password: str | None = None) -> httpx.Response:
        await self.page("/login")
        return await self.post("/login", {"username": username, "password": password or username})

    async def page(self, path: str, expect: int = 200) -> httpx.Response:
        response = await self.http.get(path, follow_redirects=True)
        assert response.status_code == expect, f"GET {path}: {response.status_code}"
        found = CSRF.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    async def post(
        self, path: str, fields: dict[str, Any] | list[tuple[str, str]], *, csrf: bool = True
    ) -> httpx.Response:
        items = list(fields.items()) if isinstance(fields, dict) else list(fields)
        if csrf:
            items.append(("csrf_token", self.token))
        form: dict[str, list[str]] = {}
        for name, value in items:
            form.setdefault(name, []).append(str(value))
        response = await self.http.post(path, data=form, follow_redirects=True)
        found = CSRF.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    async def close(self) -> None:
        await self.http.aclose()
