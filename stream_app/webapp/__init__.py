"""The swipe app: a single page in the browser, served by its own small aiohttp process.

``movierec app`` runs :mod:`stream_app.webapp.server` beside the worker instead of inside the
worker's web server, because:

* the worker stays lean: its event loop processes swipes and answers the HTTP API, and
  never holds hundreds of open server-sent-event streams or serves static files;
* the app is a client like any other: swipes go to ``swipes.v1`` (as the README's "Producing
  swipes from your own app" says), lists come from ``recommendations.v1``, the current list
  from the worker's ``GET /users/{id}/recommendations``; so it can be restarted, scaled or
  tested on its own, and any number of workers can sit behind it;
* no worker code changes: the worker's routes and security are somebody else's concern.

Plain HTML/CSS/JS in ``static/``; no build step, nothing downloaded at run time.
"""
