"""API keys over HTTP (admin only): create (the key is in the response once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Principal, SessionDep, SessionRoute, require_roles
from api.schemas import ERROR_RESPONSES, RecordId
from store.keys import create_key, key_to_dict, list_keys, revoke_key
from store.schema import ROLES

router = APIRouter(route_class=SessionRoute, prefix="/v1/keys", tags=["keys"])
Admin = Annotated[Principal, Depends(require_roles())]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "ingest", "name": "crm-sync"}]})
    role: str = Field(description=f"one of {', '.join(ROLES)}")
    name: str = Field(min_length=1, max_length=100)


@router.post("", status_code=201, responses=ERROR_RESPONSES, summary="Create a key (shown once)")
def create(body: KeyIn, session: SessionDep, _admin: Admin) -> dict:
    row, plain = create_key(session, body.role, body.name)
    session.commit()
    return {**key_to_dict(row), "key": plain}


@router.get("", responses=ERROR_RESPONSES, summary="List keys (never the keys themselves)")
def index(session: SessionDep, _admin: Admin) -> dict:
    return {"items": [key_to_dict(k) for k in list_keys(session)]}


@router.delete("/{key_id}", responses=ERROR_RESPONSES, summary="Revoke a key")
def revoke(key_id: RecordId, request: Request, session: SessionDep, _admin: Admin) -> dict:
    row = revoke_key(session, key_id)
    session.commit()
    request.app.state.key_cache.clear()  # effective at once in this process
    return key_to_dict(row)
