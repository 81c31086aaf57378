#!/bin/sh
# make demo: dockerize the example site (which also writes a .env with fresh
# secrets), migrate it on SQLite, add sample posts, collect static files and
# serve it with gunicorn on 127.0.0.1:PORT, as in production (DEBUG off).
set -eu
PORT=${1:-8000}
# The first run has no .env yet, hence no SECRET_KEY: DEBUG=true lets settings load.
DEBUG=${DEBUG:-true} python manage.py dockerize --no-input
python manage.py migrate --noinput -v0
python manage.py seed_posts --count 300
python manage.py collectstatic --noinput -v0
echo
echo "Site:   http://127.0.0.1:$PORT/"
echo "Health: http://127.0.0.1:$PORT/health/"
echo "Docker files were written here: $(pwd) (see DOCKER.md). Ctrl-C stops the server."
echo
exec gunicorn --bind "127.0.0.1:$PORT" --workers 2 --access-logfile - example_site.wsgi
