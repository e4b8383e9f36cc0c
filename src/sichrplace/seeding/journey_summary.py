"""What `sichrplace seed demo` prints about the booking journey: its viewings, and what to try."""

from __future__ import annotations

from sichrplace.integrations.payments.money import cents_to_decimal
from sichrplace.payments.records import PaymentRecord
from sichrplace.seeding.journey import JourneyReport, StateReport
from sichrplace.viewings.rules import english_when, local
from sichrplace.viewings.vocabulary import ViewingStatus

V = ViewingStatus
SHOWN = (V.PENDING_PAYMENT, V.CONFIRMED, V.COMPLETED, V.CANCELLED, V.EXPIRED)


def _money(payment: PaymentRecord | None) -> str:
    if payment is None:
        return "no payment"
    return f"{cents_to_decimal(payment.amount_cents)} {payment.currency} {payment.status.value}"


def _detail(state: StateReport, report: JourneyReport, timezone: str) -> str:
    status = state.viewing.status
    if status == V.PENDING_PAYMENT and state.payment is not None:
        until = local(state.viewing.expires_at, timezone)
        return f"pay by {until:%H:%M} at {state.payment.approval_url}"
    if status == V.COMPLETED and report.contract is not None:
        contract = report.contract
        return f"{_money(state.payment)}; contract {contract['id']} {contract['status']}"
    if status == V.EXPIRED:
        return f"never paid ({_money(state.payment)})"
    return _money(state.payment)


def summary(
    report: JourneyReport, *, landlord: str, tenant: str, base_url: str, timezone: str
) -> list[str]:
    lines = [
        f"booking journey: {report.viewings_created} viewings created, {report.free_slots} "
        f"free upcoming slots on {len(report.flats)} flats ({report.listings_created} new);",
        f"  tenant {tenant} with landlord {landlord}:",
    ]
    by_status = {s.viewing.status: s for s in report.states}
    for status in SHOWN:
        state = by_status.get(status)
        if state is None:
            continue
        when = english_when(state.viewing.starts_at, state.viewing.ends_at, timezone)
        lines.append(
            f"  {status.value:16s} {state.viewing.id}  {when}  {state.flat.city}: "
            f"{state.flat.title}"
        )
        lines.append(f"  {'':16s} {_detail(state, report, timezone)}")
    if report.conversation_id is not None:
        lines.append(
            f"  conversation {report.conversation_id} about the confirmed flat "
            f"({report.messages_created} new messages)"
        )
    lines += [f"  note: {note}" for note in report.notes]
    contract = report.contract["id"] if report.contract else "{id}"
    api = f"{base_url}/api/v1"
    lines += [
        f"try it ({base_url}/docs; log in, then send Authorization: Bearer <access_token>):",
        f"  tenant:   GET {api}/viewings (one viewing in each state); pay the pending one at its "
        "link, and the webhook confirms it",
        f"  tenant:   GET {api}/listings/{{id}}/slots, POST {api}/viewings "
        '{"slot_id": ...}, then pay at the answer\'s payment.approval_url',
        f"  tenant:   POST {api}/calendar/feed: a calendar URL (.ics) with the confirmed viewings",
        f"  landlord: GET {api}/viewings?as=landlord; POST {api}/viewings/{{id}}/cancel refunds "
        "a paid one",
        f"  both:     GET {api}/contracts/{contract}/document, then POST "
        f'{api}/contracts/{contract}/sign {{"full_name", "accept": true, "document_sha256"}}; '
        "once both signed, the tenant pays the deposit (POST "
        f'{api}/payments/intents {{"purpose": "deposit", "contract_id": ...}})',
        f"  both:     GET {api}/conversations (with unread_count), GET "
        f"{api}/conversations/{{id}}/messages, POST one there "
        '{"body", "client_message_id"}; GET '
        f"{api}/events streams new messages, read receipts, viewing changes and notifications "
        f"(curl -N), GET {api}/notifications",
        "  mail:     sichrplace mail list (confirmations with their .ics, the contract)",
    ]
    return lines
