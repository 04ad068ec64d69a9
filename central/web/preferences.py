"""The console user's own preferences, kept on the account (``users`` row) so they follow
the person into any browser: for now the single-key shortcuts switch (WCAG 2.1.4) the
event page offers. The page saves it in the background (static/event.js), so the answer
is a small JSON body, not a page."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form
from fastapi.responses import JSONResponse

from central.web.auth import WebUser, check_csrf, current_user
from central.web.pages import PageRoute
from central.web.state import WebState, web_state
from central.workflow import users

router = APIRouter(prefix="/console", tags=["console"], route_class=PageRoute)


@router.post("/preferences")
def set_preferences(
    *,
    keyboard_shortcuts: Annotated[Literal["on", "off"], Form()],
    csrf_token: Annotated[str, Form()] = "",
    user: Annotated[WebUser, Depends(current_user)],
    st: Annotated[WebState, Depends(web_state)],
) -> JSONResponse:
    """Any signed-in staff member sets their own preferences (never another's)."""
    check_csrf(user, csrf_token)
    with st.tx() as s:
        prefs = users.set_preferences(s, user.actor, keyboard_shortcuts=keyboard_shortcuts == "on")
    return JSONResponse({"keyboard_shortcuts": prefs.keyboard_shortcuts})
