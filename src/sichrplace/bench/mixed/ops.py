"""The mixed load's request names, the answers that are each one working as meant, and the
shares of the mix: shared by the Locust users and the runner that judges their log."""

from __future__ import annotations

from dataclasses import dataclass

# name -> the statuses that are the operation working (a lost booking race is 409, a listing
# archived since the sample was drawn is 404); anything else, and no answer (0), is an error.
EXPECT: dict[str, tuple[int, ...]] = {
    "search": (200,),
    "search_page2": (200,),
    "facets": (200,),
    "listing": (200, 404),
    "suggest": (200,),
    "popular": (200,),
    "login": (200,),
    "me": (200,),
    "notifications": (200,),
    "message_send": (201,),
    "messages": (200,),
    "conversations": (200,),
    "booking": (201, 409),
    "intent": (201,),
    "provider_approve": (200,),
    "viewing": (200,),
    "contract_create": (201,),
    "contract_send": (200,),
    "contract_sign": (200,),
    "events_connect": (200,),
}
# The scenarios of the mix: what the load gate judges together (named apart from the
# operations: a report holds both).
GROUPS: dict[str, tuple[str, ...]] = {
    "browse": ("search", "search_page2", "facets", "listing", "suggest", "popular"),
    "accounts": ("login", "me", "notifications"),
    "messaging": ("message_send", "messages", "conversations"),
    "bookings": ("booking", "intent", "viewing"),
    "contracts": ("contract_create", "contract_send", "contract_sign"),
}
# Requests to the fake provider: the payer's side, not ours; reported, never judged.
THIRD_PARTY = frozenset({"provider_approve"})


@dataclass(frozen=True)
class Share:
    """One user class in the mix: its share of the requests, the requests one of its tasks
    makes on average, and the tasks per second one user starts."""

    share: float
    per_task: float
    pace: float


# Anonymous browsing is the bulk, as on any marketplace; writes are a few percent, and a
# contract (its PDF made and frozen: ~0.4 s of CPU) comes once per many bookings.
MIX: dict[str, Share] = {
    "Visitor": Share(0.81, 1.1, 1.0),
    "Member": Share(0.06, 1.0, 0.5),
    "Correspondent": Share(0.09, 1.0, 0.5),
    "Booker": Share(0.035, 5.0, 0.1),  # book, intent, approve, about two polls
    "Signer": Share(0.005, 4.0, 0.05),  # create, send, two signatures
}
LISTENED_PAIRS = 64  # the first pairs: their people hold the event streams, one each
LISTENER_PACE = 2.0  # a broken stream is opened again after 0.5 s on average


def users_for(rate: float, listeners: int) -> tuple[dict[str, int], dict[str, float]]:
    """User counts and paces that make `rate` requests per second of the mix."""
    users = {name: max(1, round(s.share * rate / (s.per_task * s.pace))) for name, s in MIX.items()}
    pace = {name: s.pace for name, s in MIX.items()}
    if listeners:
        users["Listener"] = listeners
        pace["Listener"] = LISTENER_PACE
    return users, pace


def with_floor(
    users: dict[str, int], pace: dict[str, float], min_tasks: float, seconds: float
) -> dict[str, float]:
    """Paces raised so that each class's users start `min_tasks` tasks in `seconds` on average:
    a class as rare as the Signer's (0.5 % of the mix, one user at one task in 20 s) would
    otherwise start none in a short window about one run in ten, and leave its scenario
    unjudged. Event streams are held, not paced: the Listener keeps its pace."""
    out = dict(pace)
    for name, n in users.items():
        if name in MIX and n > 0 and min_tasks > 0:
            out[name] = max(pace[name], min_tasks / (n * seconds))
    return out


if set(EXPECT) & set(GROUPS):  # a report holds both: one name would hide the other
    raise RuntimeError(f"operations named like groups: {set(EXPECT) & set(GROUPS)}")
