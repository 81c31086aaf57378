#!/usr/bin/env bash
# service-images.sh - build local stand-ins for the service images a compose
# stack needs, on a CI runner that cannot pull from any container registry.
# Each is built from Debian packages on top of the local base image (see
# base-image.sh) from the Dockerfiles in images/NAME/ beside this script:
#   mariadb           Debian's mariadb-server, MARIADB_*/MYSQL_* variables,
#                     healthcheck.sh      -> PREFIX/mariadb:latest and :X.Y
#   postgres          Debian's postgresql, POSTGRES_* variables, pg_isready
#                                         -> PREFIX/postgres:latest and :N
# Images that exist are kept (FORCE=1 rebuilds). Point compose files at them
# with variables, or `docker tag` them to the names the files use.
#
# Usage:  bash service-images.sh [NAME...]     (default: both)
# Env:    BASE_IMAGE  default deploykit-ci/python:3.11-slim
#         PREFIX      default deploykit-ci
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-deploykit-ci/python:3.11-slim}
PREFIX=${PREFIX:-deploykit-ci}
DOCKER=/usr/bin/docker
HERE=$(cd "$(dirname "$0")" && pwd)

log() { printf 'service-images: %s\n' "$*"; }

# Version tag from the Debian package inside the image (10.11, 15, ...).
version_of() {
  case "$1" in
    mariadb) "$DOCKER" run --rm --entrypoint dpkg-query "$2" -W -f "\${Version}" mariadb-server |
               sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+).*/\1/' ;;
    postgres) "$DOCKER" run --rm --entrypoint sh "$2" -c 'ls /usr/lib/postgresql' ;;
  esac
}

[ "$#" -gt 0 ] || set -- mariadb postgres
for name in "$@"; do
  dir=$HERE/images/$name
  tag=$PREFIX/$name:latest
  [ -f "$dir/Dockerfile" ] || { log "no $dir/Dockerfile"; exit 2; }
  if [ "${FORCE:-0}" != 1 ] && "$DOCKER" image inspect "$tag" >/dev/null 2>&1; then
    log "$tag already exists; skipping"
    continue
  fi
  start=$SECONDS
  DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -t "$tag" "$dir" >/dev/null
  version=$(version_of "$name" "$tag")
  if [ -n "$version" ]; then "$DOCKER" tag "$tag" "$PREFIX/$name:$version"; fi
  log "built $tag${version:+ and :$version} in $((SECONDS - start))s"
done
