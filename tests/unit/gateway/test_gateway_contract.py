"""What the gateway refuses leaves nothing behind; its OpenAPI document is the models'."""

from __future__ import annotations

import re
import uuid

import pytest
from pydantic import ValidationError

from podium_gateway.models import Submission
from tests.unit.gateway.fakes import FakePublisher, FakeStore, client, goal_row


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"goal": "a\u0000b"}, "goal"),
        ({"goal": "x", "submitter": "\u0000"}, "submitter"),
        ({"goal": "x", "options": {"models": {"planner": "m\u0000"}}}, "options.models.planner"),
        ({"goal": "x", "options": {"token_budget": 2**63}}, "options.token_budget"),
    ],
)
async def test_text_postgresql_cannot_store_is_refused_before_publishing(
    body: dict[str, object], field: str
) -> None:
    publisher, store = FakePublisher(), FakeStore()
    async with client(publisher, store) as http:
        response = await http.post("/goals", json=body)
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert [item["field"] for item in fields] == [field]
    assert publisher.published == []
    assert store.goal_rows == {}


async def test_a_cancellation_with_a_nul_reason_is_refused_and_publishes_nothing() -> None:
    publisher, store = FakePublisher(), FakeStore()
    goal_id = uuid.uuid4()
    store.goal_rows[goal_id] = goal_row(goal_id, 1)
    async with client(publisher, store) as http:
        response = await http.delete(f"/goals/{goal_id}", params={"reason": "a\u0000b"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "reason"
    assert publisher.published == []


async def test_a_whole_number_written_as_5_0_is_5() -> None:
    publisher, store = FakePublisher(), FakeStore()
    async with client(publisher, store) as http:
        response = await http.post("/goals", json={"goal": "x", "options": {"max_tasks": 5.0}})
    assert response.status_code == 202
    assert publisher.published[0].options.max_tasks == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize("header", ["²".encode("latin-1"), b"9" * 30])
async def test_a_content_length_that_is_no_count_is_not_a_500(header: bytes) -> None:
    async with client(FakePublisher(), FakeStore()) as http:
        response = await http.post(
            "/goals", content=b'{"goal": "x"}', headers={b"content-length": header}
        )
    assert response.status_code < 500


async def test_the_document_is_generated_from_the_request_models() -> None:
    async with client(FakePublisher(), FakeStore()) as http:
        document = (await http.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert (
        schemas["Submission"]["properties"]["goal"]["maxLength"]
        == (Submission.model_json_schema()["properties"]["goal"]["maxLength"])
    )
    submit = document["paths"]["/goals"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Submission"
    }
    assert {"202", "400", "413", "422", "503"} <= set(submit["responses"])


@pytest.mark.parametrize(
    "goal", ["x", "  x ", "\tx\ny", "x" * 20_000, " ", "\n\t ", "a\u0000b", "\u0000", " \u0000x"]
)
def test_the_documented_goal_pattern_accepts_what_the_model_accepts(goal: str) -> None:
    pattern = Submission.model_json_schema()["properties"]["goal"]["pattern"]
    try:
        Submission(goal=goal)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert (re.search(pattern, goal) is not None) == accepted


async def test_a_method_a_path_does_not_have_is_405_naming_the_ones_it_has() -> None:
    async with client(FakePublisher(), FakeStore()) as http:
        response = await http.put("/goals")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
