"""What clients send the gateway, validated, and the machine-readable errors it answers with."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
)

from podium_common.events import GoalOptions
from podium_common.topics import TaskType

GoalStatusName = Literal["queued", "planning", "running", "completed", "failed"]
# Who may be given a model of their own: the planner and each worker type.
MODEL_ROLES = frozenset({"planner", *(task_type.value for task_type in TaskType)})
_ROLE_NAMES: list[JsonValue] = [*sorted(MODEL_ROLES)]
_TYPE_NAMES: list[JsonValue] = [*sorted(task_type.value for task_type in TaskType)]
# PostgreSQL's bigint, the widest number the read model (and Avro's long) holds.
MAX_BIGINT = 2**63 - 1


def _storable(text: str) -> str:
    # PostgreSQL's text and jsonb cannot hold U+0000: refused here, before anything is published.
    if "\x00" in text:
        raise ValueError("contains a NUL character (\\u0000), which cannot be stored")
    return text


def _whole(value: object) -> object:
    # JSON has one kind of number: 5.0 is the integer 5 (as JSON Schema says); 5.5 is not.
    return int(value) if isinstance(value, float) and value.is_integer() else value


WHOLE = BeforeValidator(_whole)

# Text that every store on a goal's way can hold; the document says so with a pattern.
StorableText = Annotated[
    str, AfterValidator(_storable), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})
]


class Options(GoalOptions):
    """A goal's options as a client sends them: strictly typed ("5" is not a number and
    true is not 1, while 5.0 is 5), nothing unknown."""

    model_config = ConfigDict(strict=True)

    # The bounds come before the validator: after it, the document would not show them.
    max_tasks: Annotated[int, Field(ge=1, le=100), WHOLE] | None = None
    deadline_s: Annotated[int, Field(ge=1, le=7 * 24 * 3600), WHOLE] | None = None
    token_budget: Annotated[int, Field(ge=1, le=MAX_BIGINT), WHOLE] | None = None
    models: dict[str, Annotated[StorableText, Field(min_length=1, max_length=200)]] = Field(
        default_factory=dict, json_schema_extra={"propertyNames": {"enum": _ROLE_NAMES}}
    )
    approvals: dict[str, Annotated[str, Field(pattern="^(before|after)$")]] = Field(
        default_factory=dict, json_schema_extra={"propertyNames": {"enum": _TYPE_NAMES}}
    )
    approval_timeout_s: Annotated[int, Field(ge=1, le=30 * 24 * 3600), WHOLE] | None = None
    on_approval_timeout: Literal["fail", "reject"] | None = None
    max_depth: Annotated[int, Field(ge=0, le=5), WHOLE] | None = None

    @field_validator("approvals")
    @classmethod
    def _known_types(cls, approvals: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(approvals) - set(map(str, _TYPE_NAMES)))
        if unknown:
            raise ValueError(
                f"unknown task types {unknown}; approvals may be set for {_TYPE_NAMES}"
            )
        return approvals

    @field_validator("models")
    @classmethod
    def _known_roles(cls, models: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(models) - MODEL_ROLES)
        if unknown:
            raise ValueError(
                f"unknown roles {unknown}; models may be set for {sorted(MODEL_ROLES)}"
            )
        return models

    def to_event(self) -> GoalOptions:
        return GoalOptions.model_validate(self.model_dump())


class Submission(BaseModel):
    """The body of `POST /goals`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    goal: StorableText = Field(
        min_length=1,
        max_length=20_000,
        # Not blank and no NUL: white space, then a character that is neither, then no NUL.
        # One way to match: fuzzers bound each `*` by maxLength, and two unbounded runs around
        # the middle character made validating one long goal take seconds.
        json_schema_extra={"pattern": "^\\s*[^\\s\\x00][^\\x00]*$"},
    )
    options: Options = Field(default_factory=Options)
    submitter: StorableText | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("goal")
    @classmethod
    def _not_blank(cls, goal: str) -> str:
        if not goal.strip():
            raise ValueError("the goal is blank")
        return goal


class ListQuery(BaseModel):
    """The query of `GET /goals`; query strings are text, so numbers are parsed from it."""

    model_config = ConfigDict(extra="forbid")

    status: GoalStatusName | None = None
    limit: int = Field(default=50, ge=1, le=500)
    before: int | None = Field(
        default=None, ge=1, le=MAX_BIGINT, description="the `next` of a previous page"
    )


class CancelQuery(BaseModel):
    """The query of `DELETE /goals/{id}`: who asks, and why (both optional)."""

    model_config = ConfigDict(extra="forbid")

    requested_by: StorableText = Field(default="anonymous", min_length=1, max_length=200)
    reason: StorableText = Field(default="", max_length=2000)


class ApiError(Exception):
    """An answer other than success, as `{"error": {"code", "message", ...}}`."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.fields: list[dict[str, str]] = []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def invalid(error: ValidationError, *, status: int, code: str, what: str) -> ApiError:
    """The fields a validation error names, e.g. `options.max_tasks`, each with its message."""
    api = ApiError(status, code, f"the {what} is invalid; `fields` says where and why")
    api.fields = [
        {"field": field_name(item["loc"]) or what, "message": item["msg"]}
        for item in error.errors(include_url=False)
    ]
    return api


def field_name(loc: tuple[int | str, ...]) -> str:
    # pydantic marks a bad dictionary key with a trailing "[key]"; the key is the field.
    return ".".join(str(part) for part in loc if part != "[key]")
