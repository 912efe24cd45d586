"""The rating web app (Starlette, Jinja2, served by uvicorn).

Routes (``TOKEN`` is a rater's secret, ``ADMIN`` the export secret; both live in ratings.sqlite):

    GET  /r/TOKEN/              the rater's next unrated page (reloading resumes there)
    POST /r/TOKEN/rate          grades of one page; 303 back to /r/TOKEN/
    GET  /admin/ADMIN/ratings.csv   every rating as CSV
    GET  /static/rate.js        keyboard shortcuts (no inline script: the CSP forbids it)

Security, since model output and remote raters are untrusted:
- every answer is rendered as text (Jinja2 autoescape) and the Content-Security-Policy allows
  only this server's own script, no images and no inline script, so markup in an answer is inert;
- no page and no rating without a rater's token; unknown tokens get 404;
- CSRF: every form carries an HMAC of the rater's id under the store's secret, also set as a
  SameSite=Strict cookie; a POST without both, equal and valid, or with a foreign Origin, gets 403;
- bound to 127.0.0.1 unless --host says otherwise, and then only the Host names given are
  answered (DNS rebinding);
- SQL is parameterised (wattbench.rating.store).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wattbench.errors import MissingExtraError
from wattbench.rating.dimensions import LIKERT, Dimension
from wattbench.rating.items import Item, pages, rater_plan
from wattbench.rating.store import Rater, RatingStore

HERE = Path(__file__).parent
CSRF_COOKIE = "wb_csrf"
COMMENT_CHARS = 2000
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'none'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the rater's token is in the URL
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class RatingConfig:
    """What the app serves: the items, the dimensions, single or pairwise pages, allowed hosts."""

    items: Sequence[Item]
    dimensions: Sequence[Dimension]
    pairwise: bool = False
    allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost", "testserver")


def csrf_token(secret: str, rater_id: str) -> str:
    """The CSRF token of a rater: hex HMAC-SHA256 of their id under the store's secret."""
    return hmac.new(secret.encode("utf-8"), f"csrf:{rater_id}".encode(), hashlib.sha256).hexdigest()


def make_app(store: RatingStore, config: RatingConfig) -> Any:
    """The Starlette app over ``store``; raises MissingExtraError without starlette and jinja2."""
    try:
        import jinja2
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware
        from starlette.requests import Request
        from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
        from starlette.routing import Route
    except ImportError as exc:
        raise MissingExtraError(exc.name or "starlette", "rate") from None

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    by_id = {item.id: item for item in config.items}
    all_pages = pages(list(config.items), config.pairwise)
    names = [d.name for d in config.dimensions]
    secret = store.meta("secret")
    admin = store.meta("admin_token")

    def refuse(status: int, text: str) -> Response:
        return PlainTextResponse(text, status_code=status, headers=HEADERS)

    def rater_of(request: Request) -> Rater | None:
        return store.rater_by_token(str(request.path_params["token"]))

    def progress(rater: Rater) -> tuple[list[tuple[str, ...]], int | None, int]:
        """(the rater's plan, index of the first page not fully graded or None, pages done)."""
        plan = rater_plan(all_pages, rater.seed)
        rated = store.rated(rater.id)
        done = [all(set(names) <= rated.get(i, set()) for i in page) for page in plan]
        first = next((n for n, ok in enumerate(done) if not ok), None)
        return plan, first, sum(done)

    async def show(request: Request) -> Response:
        rater = rater_of(request)
        if rater is None:
            return refuse(404, "unknown rater link: ask the study's organiser for yours")
        plan, first, done = progress(rater)
        context: dict[str, Any] = {"done": done, "total": len(plan), "rater": rater.id}
        if first is None:
            html = env.get_template("done.html").render(**context)
        else:
            slots = [by_id[i] for i in plan[first]]
            html = env.get_template("rate.html").render(
                **context, page=first, slots=slots, letters="AB", dimensions=config.dimensions,
                likert=LIKERT, csrf=csrf_token(secret, rater.id), action=f"/r/{rater.token}/rate",
            )
        response = Response(html, media_type="text/html; charset=utf-8", headers=HEADERS)
        response.set_cookie(CSRF_COOKIE, csrf_token(secret, rater.id), httponly=True, samesite="strict",
                            path=f"/r/{rater.token}/")
        return response

    async def rate(request: Request) -> Response:
        rater = rater_of(request)
        if rater is None:
            return refuse(404, "unknown rater link: no rating without a valid rater")
        origin = request.headers.get("origin")
        if origin not in (None, "null") and urlsplit(origin).netloc != request.headers.get("host"):
            return refuse(403, f"cross-origin POST refused (Origin {origin})")
        form = await request.form()
        expected = csrf_token(secret, rater.id)
        sent, cookie = str(form.get("csrf", "")), request.cookies.get(CSRF_COOKIE, "")
        if not (hmac.compare_digest(sent, expected) and hmac.compare_digest(cookie, expected)):
            return refuse(403, "missing or invalid CSRF token: reload the page and rate again")
        plan = rater_plan(all_pages, rater.seed)
        try:
            page = plan[int(str(form.get("page", "")))]
        except (ValueError, IndexError):
            return refuse(400, f"field 'page': {form.get('page')!r} is not one of this rater's pages")
        scores: dict[str, dict[str, int]] = {}
        for slot, item in enumerate(page):
            if form.get(f"item{slot}") != item:
                return refuse(400, f"field 'item{slot}': does not match page {form.get('page')}")
            scores[item] = {}
            for name in names:
                value = str(form.get(f"s{slot}.{name}", ""))
                if value not in {str(v) for v in LIKERT}:
                    return refuse(400, f"field 's{slot}.{name}': {value!r} is not a grade 1-5; grade every "
                                       "dimension")
                scores[item][name] = int(value)
        comment = str(form.get("comment", ""))[:COMMENT_CHARS]
        store.save_page(rater.id, page, scores, comment)
        return RedirectResponse(f"/r/{rater.token}/", status_code=303, headers=HEADERS)

    async def export(request: Request) -> Response:
        if not hmac.compare_digest(str(request.path_params["token"]), admin):
            return refuse(404, "unknown export link")
        import io

        out = io.StringIO()
        store.export_csv(out)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={**HEADERS, "Content-Disposition": "attachment; filename=ratings.csv"})

    async def script(request: Request) -> Response:
        return FileResponse(HERE / "static" / "rate.js", media_type="text/javascript", headers=HEADERS)

    async def style(request: Request) -> Response:
        return FileResponse(HERE / "static" / "rate.css", media_type="text/css", headers=HEADERS)

    return Starlette(
        routes=[
            Route("/r/{token}/", show, methods=["GET"]),
            Route("/r/{token}/rate", rate, methods=["POST"]),
            Route("/admin/{token}/ratings.csv", export, methods=["GET"]),
            Route("/static/rate.js", script, methods=["GET"]),
            Route("/static/rate.css", style, methods=["GET"]),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))],
    )


def links(base: str, store: RatingStore) -> list[str]:
    """One line per rater with their link, and the export link."""
    lines = [f"  {r.id}: {base}/r/{r.token}/" for r in store.raters()]
    lines.append(f"  export: {base}/admin/{store.meta('admin_token')}/ratings.csv")
    return lines


def serve(run_dir: Path, dimensions: Sequence[Dimension], items: Sequence[Item], raters: int, host: str,
          port: int, pairwise: bool) -> None:
    """Serve the app until interrupted, printing each rater's link first."""
    try:
        import uvicorn
    except ImportError:
        raise MissingExtraError("uvicorn", "rate") from None
    store = RatingStore.of_run(run_dir)
    store.ensure_raters(raters)
    local = host in ("127.0.0.1", "localhost", "::1")
    allowed = ["127.0.0.1", "localhost"] if local else ["*"] if host in ("0.0.0.0", "::") else [host]
    app = make_app(store, RatingConfig(items, dimensions, pairwise, allowed))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"rating {len(items)} answers of {run_dir} on {', '.join(d.name for d in dimensions)}"
          f" ({'pairwise' if pairwise else 'one at a time'}); ratings go to {store.path}")
    print("\n".join(links(f"http://{shown}:{port}", store)))
    if not local:
        print("serving beyond this machine: give each rater only their own link (it is their key)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
