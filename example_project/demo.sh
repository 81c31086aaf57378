#!/bin/sh
# make demo: the example site dockerized and served from containers when a Docker
# engine answers (compose: build, migrate, web; then sample posts); otherwise the
# local path: migrate on SQLite, collect static files, gunicorn on 127.0.0.1:PORT.
set -eu
PORT=${1:-8000}
# The first run has no .env yet, hence no SECRET_KEY: DEBUG=true lets settings load.
DEBUG=${DEBUG:-true} python manage.py dockerize --no-input

if docker version >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  echo
  echo "A Docker engine answers: building the image and starting the stack (compose.yaml)."
  # make exports PORT; compose would pass it into the web container (gunicorn's port),
  # while the published port is WEB_PORT.
  export WEB_PORT="$PORT" DOCKER_BUILDKIT=1
  unset PORT
  docker compose up -d --build --wait
  docker compose run --rm --no-deps web manage seed_posts --count 300
  echo
  echo "Site:   http://127.0.0.1:$WEB_PORT/   (served from the containers)"
  echo "Health: http://127.0.0.1:$WEB_PORT/health/"
  echo "Logs:   docker compose logs -f web      Stop: docker compose down"
  echo "The Docker files are in $(pwd) (see DOCKER.md)."
  exit 0
fi

echo
echo "No Docker engine answers (docker version failed): serving the example locally"
echo "with gunicorn instead. Start Docker and run make demo again for the containers."
python manage.py migrate --noinput -v0
python manage.py seed_posts --count 300
python manage.py collectstatic --noinput -v0
echo
echo "Site:   http://127.0.0.1:$PORT/"
echo "Health: http://127.0.0.1:$PORT/health/"
echo "Docker files were written here: $(pwd) (see DOCKER.md). Ctrl-C stops the server."
echo
exec gunicorn --bind "127.0.0.1:$PORT" --workers 2 --access-logfile - example_site.wsgi
