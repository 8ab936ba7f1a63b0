"""The account's extensions (users, departments, IVR menus, fax lines...), generated from the seed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rc_pipeline.simulator.timefmt import iso

FIRST_NAMES = (
    "Alice", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lena",
    "Marta", "Nikhil", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tomas", "Uma", "Viktor", "Wen", "Yara",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes", "Ito", "Jansen",
    "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber",
)  # fmt: skip
DEPARTMENTS = ("Sales", "Support", "Billing", "Front Desk", "Dispatch", "Claims")

# (type, weight) for extensions after the first, which is always the admin user who owns the app.
TYPE_WEIGHTS = (
    ("User", 70),
    ("Department", 8),
    ("IvrMenu", 4),
    ("FaxUser", 6),
    ("VirtualUser", 4),
    ("Announcement", 3),
    ("ParkLocation", 3),
    ("Voicemail", 2),
)
STATUS_WEIGHTS = (("Enabled", 85), ("Disabled", 8), ("NotActivated", 7))
# Extensions that place and receive calls and own a mailbox.
CALLING_TYPES = frozenset({"User", "Department", "FaxUser", "VirtualUser", "IvrMenu"})


@dataclass(frozen=True)
class Extension:
    index: int
    id: int
    number: str
    type: str
    status: str
    first_name: str
    last_name: str
    name: str
    email: str | None
    direct_number: str
    created: datetime

    @property
    def calls(self) -> bool:
        """Whether calls are logged against this extension."""
        return self.type in CALLING_TYPES and self.status == "Enabled"

    @property
    def message_types(self) -> tuple[str, ...]:
        """Message kinds its mailbox receives ('MMS' is an SMS with an image)."""
        if self.status == "NotActivated":
            return ()
        if self.type == "User":
            return ("SMS", "MMS", "VoiceMail", "Fax", "Pager")
        if self.type == "FaxUser":
            return ("Fax",)
        if self.type == "Department":
            return ("VoiceMail",)
        return ()


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def build_extensions(seed: int, count: int, admin_number: str, main_number: str) -> list[Extension]:
    """`count` extensions; the first is the enabled admin user whose number is `admin_number`."""
    rng = random.Random(f"{seed}:extensions")
    base_id = 60_000_000_000 + rng.randrange(1_000_000_000)
    created_base = datetime(2021, 1, 4, tzinfo=UTC) + timedelta(days=rng.randrange(365))
    out: list[Extension] = []
    used_numbers = {admin_number}
    next_number = 101
    for i in range(count):
        ext_type = "User" if i == 0 else _weighted(rng, TYPE_WEIGHTS)
        status = "Enabled" if i == 0 else _weighted(rng, STATUS_WEIGHTS)
        if i == 0:
            number = admin_number
        else:
            while str(next_number) in used_numbers:
                next_number += 1
            number = str(next_number)
            used_numbers.add(number)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if ext_type in ("User", "VirtualUser"):
            name = f"{first} {last}"
            email: str | None = f"{first}.{last}{i}@example.com".lower()
        elif ext_type == "Department":
            first, last = rng.choice(DEPARTMENTS), "Queue"
            name, email = f"{first} Queue", None
        elif ext_type == "FaxUser":
            first, last = "Fax", f"Line {i}"
            name, email = f"Fax Line {i}", None
        else:
            first, last = ext_type, number
            name, email = f"{ext_type} {number}", None
        out.append(
            Extension(
                index=i,
                id=base_id + i * 1_009 + rng.randrange(1_000),
                number=number,
                type=ext_type,
                status=status,
                first_name=first,
                last_name=last,
                name=name,
                email=email,
                direct_number=f"{main_number[:-4]}{(int(main_number[-4:]) + 1 + i) % 10_000:04d}",
                created=created_base + timedelta(days=i, minutes=rng.randrange(1440)),
            )
        )
    return out


def extension_record(ext: Extension, base_url: str, account_id: str) -> dict:
    """The extension as the extension list returns it."""
    uri = f"{base_url}/restapi/v1.0/account/{account_id}/extension/{ext.id}"
    contact: dict = {"firstName": ext.first_name, "lastName": ext.last_name, "company": "Example Corp"}
    if ext.email:
        contact["email"] = ext.email
        contact["emailAsLoginName"] = True
    contact["businessPhone"] = ext.direct_number
    record = {
        "uri": uri,
        "id": ext.id,
        "extensionNumber": ext.number,
        "contact": contact,
        "name": ext.name,
        "type": ext.type,
        "status": ext.status,
        "permissions": {
            "admin": {"enabled": ext.index == 0},
            "internationalCalling": {"enabled": ext.type == "User"},
        },
        "profileImage": {"uri": f"{uri}/profile-image"},
        "hidden": False,
        "creationTime": iso(ext.created),
    }
    return record
