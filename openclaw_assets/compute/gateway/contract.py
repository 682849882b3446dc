"""The gateway's HTTP contract: request and response bodies, and the limits on them.

Only pydantic here, so the CLI can print the contract without loading the model stack.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from openclaw_assets.kernel.months import LOCAL_TZ

MAX_ROWS = 1000
"""Rows per request; more gets 413."""
MAX_BODY_BYTES = 1_048_576
"""Request body ceiling; more gets 413."""
CODE = re.compile(r"^[A-Z0-9]{2,3}$")
TAILNUM = re.compile(r"^[A-Z0-9]{1,8}$")
CODE_PATTERN = r"^\s*[A-Za-z0-9]{2,3}\s*$"
"""What the OpenAPI document promises: case and surrounding blanks do not matter."""
TAILNUM_PATTERN = r"^\s*[A-Za-z0-9]{0,8}\s*$"
FIRST_YEAR, LAST_YEAR = 1900, 2199
_YEAR = r"(19|20|21)\d\d"
_LEAP_YEAR = r"(2000|(19|20|21)(0[48]|[2468][048]|[13579][26]))"
_DATE = (
    rf"({_YEAR}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-8]))"
    rf"|{_LEAP_YEAR}-02-29)"
)
DEPARTURE_PATTERN = rf"^{_DATE}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{{1,6}})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?$"
"""The departures the gateway scores: an ISO 8601 date and time in the years 1900 to 2199, the
seconds and the UTC offset optional; exactly what the validator accepts."""
DEPARTURE = re.compile(DEPARTURE_PATTERN)


def _departure_schema(schema: dict) -> None:
    # the pattern is the contract; ``date-time`` would promise RFC 3339 (offset required) instead
    schema.pop("format", None)
    schema["pattern"] = DEPARTURE_PATTERN


NOT_BLANK = r"\S"
"""Blanks around ids are dropped, so an id needs one character that is not blank."""


class Flight(BaseModel):
    """One flight to score: its entity keys and the fields known when the request is made."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    flight_id: str = Field(
        min_length=1,
        max_length=64,
        description="The caller's id for the flight; echoed back and logged. Surrounding blanks are dropped.",
        json_schema_extra={"pattern": NOT_BLANK},
    )
    carrier: str = Field(
        description="Two-letter carrier code, e.g. `UA`.", examples=["UA"], json_schema_extra={"pattern": CODE_PATTERN}
    )
    origin: str = Field(
        description="Origin airport (FAA code), e.g. `EWR`.",
        examples=["EWR"],
        json_schema_extra={"pattern": CODE_PATTERN},
    )
    dest: str = Field(
        description="Destination airport (FAA code), e.g. `IAH`.",
        examples=["IAH"],
        json_schema_extra={"pattern": CODE_PATTERN},
    )
    tailnum: str | None = Field(
        default=None,
        description="Aircraft tail number; omit if not yet assigned.",
        json_schema_extra={"pattern": TAILNUM_PATTERN},
    )
    scheduled_departure: datetime = Field(
        description=f"Scheduled departure, in the years {FIRST_YEAR} to {LAST_YEAR}. Without a UTC offset it is "
        "read as New York local time.",
        examples=["2013-12-01T06:30:00"],
        json_schema_extra=_departure_schema,
    )
    distance: float = Field(ge=0, le=10_000, description="Great-circle distance in miles.", examples=[1400])
    request_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Key for the sticky A/B assignment (e.g. a session); defaults to `flight_id`.",
        json_schema_extra={"pattern": NOT_BLANK},
    )

    @field_validator("carrier", "origin", "dest")
    @classmethod
    def _code(cls, value: str) -> str:
        value = value.upper()
        if not CODE.match(value):
            raise ValueError("must be a 2-3 character code of letters and digits")
        return value

    @field_validator("distance", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        # what the OpenAPI document says: a JSON number, not a boolean or a numeric string
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("Input should be a valid number")
        return value

    @field_validator("scheduled_departure", mode="before")
    @classmethod
    def _a_date_time_string(cls, value: object) -> object:
        if isinstance(value, datetime):
            return value
        if not isinstance(value, str) or not DEPARTURE.match(value):  # not a number of seconds, nor another form
            raise ValueError(
                f"must be an ISO 8601 date and time, YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM], "
                f"in the years {FIRST_YEAR} to {LAST_YEAR}"
            )
        return value

    @field_validator("scheduled_departure")
    @classmethod
    def _local_time(cls, value: datetime) -> datetime:
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise ValueError(f"must be in the years {FIRST_YEAR} to {LAST_YEAR}")
        if value.tzinfo is not None:
            try:
                value.astimezone(ZoneInfo(LOCAL_TZ))
            except OverflowError:
                raise ValueError("is out of range in New York local time") from None
        return value

    @field_validator("tailnum")
    @classmethod
    def _tailnum(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.upper()
        if not TAILNUM.match(value):
            raise ValueError("must be 1-8 letters and digits")
        return value


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flights: list[Flight] = Field(
        min_length=1,
        description=f"One or more flights (at most {MAX_ROWS} per request; more gets 413).",
        json_schema_extra={"maxItems": MAX_ROWS},
    )


class Prediction(BaseModel):
    flight_id: str
    probability: float = Field(description="Probability that the flight arrives more than 15 minutes late.")
    decision: Literal["delayed", "on_time"] = Field(description="`delayed` when probability >= the threshold.")
    threshold: float
    model_version: str = Field(description="The registered model version that made this prediction.")
    variant: Literal["champion", "challenger"]
    risk_flag: bool = Field(description="True when any feature was missing or outside the training range.")
    out_of_range: list[str] = Field(description="Numeric features outside the range seen in training.")
    missing_features: list[str] = Field(
        description="Feature views with no online value for this flight's entity (unknown or expired)."
    )


class PredictResponse(BaseModel):
    model_name: str
    request_id: str
    predictions: list[Prediction]


class ErrorResponse(BaseModel):
    """Every error answer: a stable code and a message (or, for 422, one entry per problem)."""

    error: str = Field(description="A stable code, e.g. `unauthorized`, `invalid_request`, `not_ready`.")
    detail: str | list | None = None


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    model_version: str | None = Field(description="The version that answers (the challenger when pinned).")


class VersionStats(BaseModel):
    version: str
    requests: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None


class StatusResponse(BaseModel):
    model_name: str
    champion: str | None
    challenger: str | None
    challenger_share: float
    pinned: str | None
    window_seconds: float
    versions: list[VersionStats]
    loaded_at: str
    started_at: str


class TreeHeadResponse(BaseModel):
    """A signed statement of the ledger's size and Merkle root (RFC 9162), as an auditor keeps it."""

    size: int = Field(description="Entries the tree covers.")
    root: str = Field(description="The Merkle tree hash of those entries (hex).")
    timestamp: str
    key_id: str = Field(description="SHA-256 (hex) of the raw ed25519 public key that signed it.")
    signature: str = Field(description="ed25519 signature (hex) over the domain prefix and the other fields.")


class LedgerEntry(BaseModel):
    """One ledger entry: what was made or decided, its digest and file, the entries it came from, its facts."""

    seq: int
    kind: str = Field(description="E.g. `table`, `model`, `decision`.")
    subject: str = Field(description="E.g. `decision:gateway_request/v1/admin/status`.")
    digest: str | None = Field(description="SHA-256 (hex) of the content; for a decision, of its input.")
    path: str | None = Field(description="The file under the home the digest is of, if any.")
    inputs: list[int] = Field(description="The seqs of the entries this one was built from.")
    facts: dict[str, Any]
    recorded_at: str
    prev: str = Field(description="The leaf hash of the entry before (the hash chain).")


class EntriesResponse(BaseModel):
    size: int = Field(description="How many entries the ledger holds now.")
    start: int
    entries: list[LedgerEntry]


class DecisionsResponse(BaseModel):
    decisions: list[LedgerEntry] = Field(description="Entries of kind `decision`, the newest first.")


class ProofResponse(BaseModel):
    """That entry ``seq`` is in the tree the head signs: hash ``leaf_hash`` up with ``proof`` to ``head.root``."""

    seq: int
    leaf_hash: str = Field(description="SHA-256 of 0x00 and the entry's canonical JSON (hex).")
    proof: list[str] = Field(description="The RFC 9162 inclusion proof, bottom-up (hex).")
    head: TreeHeadResponse
