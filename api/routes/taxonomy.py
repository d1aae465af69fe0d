"""The taxonomy the analysts own: read, replace (a new version), promote an emerging theme to a topic.

Every change is a new version; the response says whether a retrain is needed (the served model was
trained with different topics or seeds).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.analyst_runtime import current_taxonomy_dict
from api.deps import Principal, SessionDep, SessionRoute, require_roles
from nlp.errors import BazkhordError
from store import taxonomy as tax_store
from store.schema import TaxonomyVersion

router = APIRouter(route_class=SessionRoute, tags=["analysts"])
Analyst = Annotated[Principal, Depends(require_roles("analyst"))]


class TaxonomyIn(BaseModel):
    name: str
    topics: list[dict]


class NewTopicIn(BaseModel):
    """A topic to add; with ``theme_id`` (from GET /v1/themes/emerging) the theme's key phrases are its seeds."""

    id: str
    label_fa: str
    description: str = ""
    seeds: list[str] = Field(default_factory=list)
    theme_id: str | None = None


def _analyzer(request: Request):
    holder = getattr(request.app.state, "analyzer_holder", None)
    return holder.get() if holder is not None else None


@router.get("/v1/taxonomy")
def get_taxonomy(request: Request, session: SessionDep, _who: Analyst) -> dict:
    return current_taxonomy_dict(session, _analyzer(request))


@router.put("/v1/taxonomy")
def put_taxonomy(body: TaxonomyIn, request: Request, session: SessionDep, who: Analyst) -> dict:
    tax_store.save(session, body.model_dump(), author=who.name)
    session.commit()
    return current_taxonomy_dict(session, _analyzer(request))


@router.post("/v1/taxonomy/topics", status_code=201)
def add_topic(body: NewTopicIn, request: Request, session: SessionDep, who: Analyst) -> dict:
    """One step from an emerging theme (or a new idea) to a topic of the next taxonomy version."""
    current = current_taxonomy_dict(session, _analyzer(request))
    seeds = list(body.seeds)
    if body.theme_id:
        from indicators.query import Slice
        from indicators.themes import emerging_themes

        theme = next((t for t in emerging_themes(session, Slice())["themes"] if t["id"] == body.theme_id), None)
        if theme is None:
            raise BazkhordError("theme.not_found", f"No emerging theme {body.theme_id} in the current window.",
                                {"theme_id": body.theme_id}, 404)
        seeds = seeds or list(theme["key_phrases"])
    topic = {"id": body.id, "label_fa": body.label_fa, "description": body.description, "seeds": seeds}
    if any(t["id"] == body.id for t in current["topics"]):
        raise BazkhordError("taxonomy.invalid", f"Topic {body.id} already exists.", [{"field": "id"}], 409)
    tax_store.add_topic(session, current, topic, author=who.name)
    session.commit()
    return current_taxonomy_dict(session, _analyzer(request))


@router.get("/v1/taxonomy/versions")
def taxonomy_versions(session: SessionDep, _who: Analyst) -> dict:
    rows = session.scalars(select(TaxonomyVersion).order_by(TaxonomyVersion.version.desc()))
    return {"versions": [{"version": r.version, "name": r.name, "author": r.author,
                          "created_at": r.created_at.isoformat(), "topics": len(r.content.get("topics", []))}
                         for r in rows]}
