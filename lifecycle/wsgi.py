"""WSGI entry point, served by gunicorn (see gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

from lifecycle.core.wsgi_middleware import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifecycle.settings")

# Chunked request bodies are read (or refused) before Django sees the request: see the middleware.
application = ChunkedBodyMiddleware(get_wsgi_application())
