"""The error answers every operation documents in OpenAPI: one place, so the document and the code agree."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """A refusal: a short message in words, never the rejected input, a stack trace or SQL."""

    detail: str = Field(description="What went wrong, in words.")


class ValidationProblem(BaseModel):
    """One thing wrong with the request."""

    loc: list[str | int] = Field(description="Where: `body`, `query`, `path` or `header`, then the field.",
                                 examples=[["body", "note"]])
    msg: str = Field(description="What is wrong with it.", examples=["Value error, control characters are not allowed"])
    type: str = Field(description="A stable error type.", examples=["value_error"])


class ValidationErrorOut(BaseModel):
    """The request was understood but refused: its fields, or a rule across fields (e.g. a period's order)."""

    detail: list[ValidationProblem] | str = Field(
        description="The problems, field by field; a sentence when a rule spans several fields.")


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}}

_ERRORS: dict[int, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body could not be read as JSON (e.g. not UTF-8)."},
    401: {"model": ErrorOut, "headers": _WWW_AUTHENTICATE,
          "description": "No token, or one that is unknown, revoked or expired."},
    403: {"model": ErrorOut, "description": "The caller's role may never do this, whatever the row."},
    404: {"model": ErrorOut,
          "description": "No such row, or one outside the caller's scope: the two answer exactly alike."},
    409: {"model": ErrorOut, "description": "The alert's state does not allow this step now (someone else acted)."},
    422: {"model": ValidationErrorOut, "description": "The request's fields break the documented rules."},
    429: {"model": ErrorOut, "headers": _RETRY_AFTER,
          "description": "Too many failed sign-ins without a valid token from this client or with this credential; "
                         "a valid token is never refused this way."},
}


_EXAMPLES = {
    400: "There was an error parsing the body",
    401: "the token is not valid",
    403: "your role may not do this",
    404: "no such resident",
    409: "this alert cannot be given 'acknowledge' now: someone may have handled it already",
    422: [{"loc": ["body", "note"], "type": "value_error",
           "msg": "Value error, control characters (other than tab and line breaks) are not allowed"}],
    429: "too many failed sign-ins; try again later",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses, each with an example answer."""
    return {code: {**_ERRORS[code], "content": {"application/json": {"example": {"detail": _EXAMPLES[code]}}}}
            for code in codes}


# Every authenticated operation: no or a bad token, bad fields, repeated failed sign-ins.
AUTHENTICATED = error_responses(401, 422, 429)
