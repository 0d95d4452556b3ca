"""What makes a simulated scheme worth watching: care details per flat and a trickle of calls.

The addresses and phone numbers are fictional: UK numbers in 07700 900000-900999 and 0113 496 0000-0999
are reserved by Ofcom for drama, so a demo can never ring a real person.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from simulators import layout as names
from simulators.stimuli import Action, Stimulus

_STREET = "Alder Court, 14 Mill Lane, Leeds LS6 2QF"
_FIRST_CALL_AFTER_S = 20.0  # the first press lands while the newcomer is still reading the console
_CONTACT_NAMES = (
    ("Sam Okafor", "daughter"), ("Priya Shah", "son"), ("Jo Evans", "niece"), ("Alex Byrne", "brother"),
    ("Chris Lowe", "friend"), ("Morgan Reid", "sister"),
)
_PROTOCOLS = (
    "Call the resident through the unit first. No answer within 2 attempts: send the on-site responder. "
    "Then call contacts in order. Fall with injury or no response from the responder: 999.",
    "Lives with early dementia; may not remember pressing. Speak slowly, give your name twice. "
    "If distressed or no answer: on-site responder, then the first contact.",
    "History of falls; uses a frame. Any fall: on-site responder to attend, do not ask the resident to get up. "
    "Head injury or on blood thinners (yes): 999.",
    "Hard of hearing: let the unit ring for 30 s. No answer: responder attends, then contacts in order.",
)
_ACCESS = (
    "Key safe left of the front door, code 1942. Block entry: press 0 then 14 on the intercom.",
    "Warden holds a key (scheme office, 24 h). Door chain usually on at night: responders ask to be let in.",
    "Key safe behind the drainpipe, code 5830. Dog in the flat (friendly).",
)


def care_details(*, seed: int, index: int) -> dict[str, Any]:
    """Address, response protocol, access notes and contacts for simulated flat `index` (0-based)."""
    rng = random.Random(f"{seed}/care/{index}")
    first, second = rng.sample(_CONTACT_NAMES, 2)
    return {
        "address": f"Flat {index + 1}, {_STREET}",
        "response": {
            "protocol": _PROTOCOLS[index % len(_PROTOCOLS)],
            "access_notes": _ACCESS[index % len(_ACCESS)],
            "medical_notes": rng.choice(("Type 2 diabetes.", "COPD; home oxygen in the bedroom.", "")),
        },
        "contacts": [
            {"name": "On-site responder (scheme office)", "relationship": "responder",
             "phone": f"0113 496 {index % 1000:04d}", "keyholder": True},
            {"name": first[0], "relationship": first[1], "phone": f"07700 900{rng.randrange(1000):03d}",
             "keyholder": rng.random() < 0.5},
            {"name": second[0], "relationship": second[1], "phone": f"07700 900{rng.randrange(1000):03d}"},
        ],
    }


def demo_calls(*, seed: int, residents: int, start: float, end: float, per_hour: float) -> dict[int, list[float]]:
    """Times of demo pendant presses per resident index: one at `start` + 20 s, then about `per_hour`."""
    calls: dict[int, list[float]] = {}
    if per_hour <= 0 or residents <= 0:
        return calls
    rng = random.Random(f"{seed}/demo-calls")
    at, who = start + _FIRST_CALL_AFTER_S, 0
    while at < end:
        calls.setdefault(who, []).append(at)
        at += rng.expovariate(per_hour / 3600.0)
        who = rng.randrange(residents)
    return calls


def press_stimuli(*, times: list[float]) -> Iterator[Stimulus]:
    """The pendant presses of a demo call trickle."""
    for at in times:
        yield Stimulus(at, names.PENDANT, Action.SET, (("action", "emergency"),))
