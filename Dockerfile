# The server's image: web (gunicorn), worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LIFECYCLE_DATA_DIR=/var/lib/lifecycle
WORKDIR /app
# requirements.txt installs the repository's own rendering package from packages/: it comes first.
COPY requirements.txt .
COPY packages/promptrender packages/promptrender
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --home-dir /var/lib/lifecycle lifecycle && mkdir -p /var/lib/lifecycle \
    && chown lifecycle /var/lib/lifecycle
USER lifecycle
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "lifecycle.wsgi:application"]
