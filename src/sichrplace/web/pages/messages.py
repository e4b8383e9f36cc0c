"""Messages: the viewer's conversations, one conversation (read, answer, archive), and writing
to a listing's landlord.

A conversation's message list is live: its element names the `message.created` event
(`data-live`), and site.js, which listens on the viewer's event stream, makes htmx reload it
from `/nachrichten/{id}/liste`. Opening or reloading the list marks what it shows as read.
Sending carries a `client_message_id` made when the form was rendered, so a form submitted
twice sends one message; with htmx the answer is the new list and a fresh form (an
out-of-band swap), without it a redirect back to the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sichrplace.kit.errors import ProblemError
from sichrplace.kit.i18n import N_
from sichrplace.web.client import ApiClient, ApiProblem
from sichrplace.web.csrf import checked_form
from sichrplace.web.pages.base import Page, api, page_router, redirect, render, signed_in
from sichrplace.web.pages.journey import (
    for_the_form,
    is_htmx,
    is_uuid,
    listing_of,
    listing_path,
    new_key,
    segment,
    text_of,
)

router = page_router()

PAGE_SIZE = 30
CONVERSATIONS_PAGE = 20
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _conversation_id(value: str) -> str:
    if not is_uuid(value):
        raise ProblemError(N_("No such conversation."), status=404, slug="conversation-not-found")
    return value


def _listing_id(value: str) -> str:
    if not is_uuid(value):
        raise ProblemError(N_("No such listing."), status=404, slug="listing-not-found")
    return value


def _before(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and int(value) > 0 else None


def _client_message_id(form: Any) -> str:
    sent = text_of(form, "client_message_id")
    return sent if _CLIENT_ID.match(sent) else new_key()


# --- the conversations -----------------------------------------------------------------------


@router.get("/nachrichten")
async def conversations_page(
    request: Request, archiviert: str | None = None, cursor: str | None = None
) -> Response:
    made = await signed_in(request, "messaging/list")
    archived = archiviert == "1"
    found = await api(made).get(
        "/conversations", archived=archived, cursor=cursor, limit=CONVERSATIONS_PAGE
    )
    context = {
        "conversations": found["items"],
        "next_cursor": found.get("next_cursor"),
        "archived": archived,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    return render(request, made, context)


# --- writing to a listing's landlord ----------------------------------------------------------


async def _existing(client: ApiClient, listing_id: str) -> str | None:
    """The viewer's conversation about the listing, if there is one (archived or not; among
    the newest hundred of each, which is where a conversation one is about to write in is)."""
    for archived in (False, True):
        found = await client.get("/conversations", archived=archived, limit=100)
        for item in found["items"]:
            if item["listing"]["id"] == listing_id:
                return str(item["id"])
    return None


async def _compose(request: Request, made: Page, listing_id: str, **extra: Any) -> Response:
    made.template = "messaging/new"
    listing = await listing_of(api(made), listing_id)
    if listing is None:
        raise ProblemError(N_("No such listing."), status=404, slug="listing-not-found")
    status = extra.pop("status", 200)
    context = {"listing": listing, "listing_path": listing_path, **extra}
    return render(request, made, context, status=status)


@router.get("/nachrichten/neu")
async def compose_page(request: Request, listing: str = "") -> Response:
    made = await signed_in(request, "messaging/new")
    return await _compose(request, made, _listing_id(listing))


@router.post("/nachrichten/neu")
async def start(request: Request) -> Response:
    """The first message about a listing (or the next one, in the existing conversation)."""
    form = await checked_form(request)
    made = await signed_in(request, "messaging/new")
    client = api(made)
    listing_id, text = _listing_id(text_of(form, "listing_id")), text_of(form, "body")
    if not text and (known := await _existing(client, listing_id)):
        return redirect(request, made, f"/nachrichten/{known}")
    body = {"listing_id": listing_id, "body": text, "client_message_id": _client_message_id(form)}
    try:
        started = await client.post("/conversations", body)
    except ApiProblem as problem:
        if not for_the_form(problem):
            raise
        values = {"body": text, "client_message_id": body["client_message_id"]}
        return await _compose(
            request,
            made,
            listing_id,
            contact_problem=problem,
            contact_errors=problem.field_errors(),
            contact_values=values,
            status=problem.status,
        )
    return redirect(request, made, f"/nachrichten/{started['id']}")


# --- one conversation ------------------------------------------------------------------------


async def _messages(client: ApiClient, conversation_id: str, before: int | None) -> dict[str, Any]:
    found = await client.get(
        f"/conversations/{segment(conversation_id)}/messages", before=before, limit=PAGE_SIZE
    )
    return {"messages": list(reversed(found["items"])), "older": found.get("next_cursor")}


async def _list_context(
    client: ApiClient, made: Page, conversation_id: str, before: int | None = None
) -> dict[str, Any]:
    """The conversation and (a page of) its messages, oldest first; what the newest page
    shows is marked read."""
    conversation, shown = await asyncio.gather(
        client.get(f"/conversations/{segment(conversation_id)}"),
        _messages(client, conversation_id, before),
    )
    messages = shown["messages"]
    if before is None and messages and conversation["read_seq"] < messages[-1]["seq"]:
        with contextlib.suppress(ApiProblem):  # reading works without the marker moving
            await client.post(
                f"/conversations/{segment(conversation_id)}/read",
                {"up_to_message_id": messages[-1]["id"]},
            )
    me = str(made.viewer.principal.id) if made.viewer.principal else ""
    return {"conversation": conversation, "me": me, "before": before, **shown}


def _form_values(client_message_id: str | None = None, body: str = "") -> dict[str, str]:
    return {"body": body, "client_message_id": client_message_id or new_key()}


@router.get("/nachrichten/{conversation_id}")
async def conversation_page(
    request: Request, conversation_id: str, before: str | None = None
) -> Response:
    made = await signed_in(request, "messaging/conversation")
    client = api(made)
    context = await _list_context(client, made, _conversation_id(conversation_id), _before(before))
    context.update(values=_form_values(), errors={}, problem=None, listing_path=listing_path)
    return render(request, made, context)


@router.get("/nachrichten/{conversation_id}/liste")
async def message_list(
    request: Request, conversation_id: str, before: str | None = None
) -> Response:
    """The message list's content (live reloads), or with `before` the older messages to put
    above it ("load older")."""
    older = _before(before)
    made = await signed_in(request, "messaging/_older" if older else "messaging/_messages")
    context = await _list_context(api(made), made, _conversation_id(conversation_id), older)
    return render(request, made, context)


@router.post("/nachrichten/{conversation_id}")
async def send(request: Request, conversation_id: str) -> Response:
    form = await checked_form(request)
    made = await signed_in(request, "messaging/conversation")
    client = api(made)
    cid = _conversation_id(conversation_id)
    text = form.get("body")
    values = _form_values(_client_message_id(form), text if isinstance(text, str) else "")
    problem: ApiProblem | None = None
    try:
        await client.post(f"/conversations/{segment(cid)}/messages", values)
    except ApiProblem as refused:
        if not for_the_form(refused):
            raise
        problem = refused
    if problem is None:
        if not is_htmx(request):
            return redirect(request, made, f"/nachrichten/{cid}")
        values = _form_values()
    context = await _list_context(client, made, cid)
    context.update(
        values=values,
        errors=problem.field_errors() if problem else {},
        problem=problem,
        listing_path=listing_path,
    )
    if is_htmx(request):  # htmx swaps only 2xx answers: the form shows the problem
        made.template = "messaging/_sent"
        return render(request, made, context)
    return render(request, made, context, status=problem.status if problem else 200)


async def _set_archived(request: Request, conversation_id: str, action: str) -> Response:
    await checked_form(request)
    made = await signed_in(request, "messaging/conversation")
    cid = _conversation_id(conversation_id)
    await api(made).post(f"/conversations/{segment(cid)}/{action}")
    return redirect(request, made, "/nachrichten" if action == "archive" else f"/nachrichten/{cid}")


@router.post("/nachrichten/{conversation_id}/archivieren")
async def archive(request: Request, conversation_id: str) -> Response:
    return await _set_archived(request, conversation_id, "archive")


@router.post("/nachrichten/{conversation_id}/wiederherstellen")
async def unarchive(request: Request, conversation_id: str) -> Response:
    return await _set_archived(request, conversation_id, "unarchive")
